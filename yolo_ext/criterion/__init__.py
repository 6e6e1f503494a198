"""The YOLOv5 criterion (``ComputeLoss`` semantics with pluggable assignment and losses) and the loss balance."""

from .balance import LossBalance
from .yolov5 import YOLOv5Criterion, scaled_gains

__all__ = ["LossBalance", "YOLOv5Criterion", "scaled_gains"]
