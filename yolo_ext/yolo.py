"""``python -m yolo_ext.yolo ARGS``: the stock ``yolo`` CLI with yolo-ext's models routed (see ``yolo_ext.cli.yolo``)."""

import yolo_ext  # noqa: F401  (offline mode, patches and the front-end routing before ultralytics parses anything)

from .cli.yolo import main

if __name__ == "__main__":
    main()
