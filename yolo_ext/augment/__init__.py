"""Training-time augmentations the stock ultralytics pipeline lacks for detection: cutout / random erasing with label
dropping, and SCRFD's square-crop sample redistribution; inserted into a training dataset's pipeline by ``attach``."""

from .cutout import Cutout, CutoutConfig, check_fill, check_probability, check_range, visible_fraction
from .dataset import AugmentedYOLODataset, Tricks, attach, install
from .square_crop import AREA_THR, AR_THR, WH_THR, SquareCrop, SquareCropConfig, crop_boxes

__all__ = [
    "AREA_THR", "AR_THR", "AugmentedYOLODataset", "Cutout", "CutoutConfig", "SquareCrop", "SquareCropConfig", "Tricks",
    "WH_THR", "attach", "check_fill", "check_probability", "check_range", "crop_boxes", "install", "visible_fraction",
]
