"""``python -m yolo_ext.ablate``: see ``yolo_ext.cli.ablate``."""

import sys

from ..cli.ablate import main

if __name__ == "__main__":
    sys.exit(main())
