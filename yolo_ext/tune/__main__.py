"""``python -m yolo_ext.tune``: see ``yolo_ext.cli.tune``."""

import sys

from ..cli.tune import main

if __name__ == "__main__":
    sys.exit(main())
