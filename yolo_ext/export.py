"""``python -m yolo_ext.export``: see ``yolo_ext.cli.export``."""

import sys

from .cli.export import main

if __name__ == "__main__":
    sys.exit(0 if main() else 1)
