"""``python -m yolo_ext.convert yolov5 IN.pt OUT.pt``: see ``yolo_ext.cli.convert``."""

import sys

from .cli.convert import main

if __name__ == "__main__":
    sys.exit(main())
