"""``python -m yolo_ext.widerface``: see ``yolo_ext.cli.widerface``."""

import sys

from ..cli.widerface import main

if __name__ == "__main__":
    sys.exit(main())
