"""yolo-ext: anchor-based YOLOv5 label assignment and loss study toolkit on top of ultralytics.

Importing this package makes every run offline-safe (``YOLO_OFFLINE=1`` unless the user set it) and applies the
ultralytics patches in ``patches/`` (idempotent).
"""

import os

os.environ.setdefault("YOLO_OFFLINE", "1")  # must precede the first ultralytics import

import patches as _patches  # noqa: E402

_patches.apply()

__version__ = "0.1.0"
