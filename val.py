#!/usr/bin/env python
"""Validate a yolo-ext checkpoint: `python val.py --weights runs/train/exp/weights/best.pt --data synth`.
Prints the ultralytics metrics and, on WIDER-format data, WIDER FACE easy/medium/hard AP."""
import yolo_ext  # noqa: F401  (offline mode + patches before ultralytics is used)
from yolo_ext.cli.val import val_main

if __name__ == "__main__":
    val_main()
