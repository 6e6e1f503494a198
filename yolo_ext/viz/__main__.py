"""``python -m yolo_ext.viz``: see ``yolo_ext.cli.viz``."""

import sys

from ..cli.viz import main

if __name__ == "__main__":
    sys.exit(main())
