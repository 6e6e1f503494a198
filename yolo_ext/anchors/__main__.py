"""``python -m yolo_ext.anchors``: see ``yolo_ext.cli.anchors``."""

from ..cli.anchors import main

if __name__ == "__main__":
    main()
