#!/usr/bin/env python
"""Train an anchor-based YOLO with yolo-ext: `python train.py --cfg yolov5n.yaml --assigner radius`.
Run `python train.py --help` for every flag, `python train.py --assigner list` for the assigners."""
import yolo_ext  # noqa: F401  (offline mode + patches before ultralytics is used)
from yolo_ext.cli.train import train_main

if __name__ == "__main__":
    train_main()
