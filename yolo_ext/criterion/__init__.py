"""The YOLOv5 criterion (``ComputeLoss`` semantics, pluggable assignment and losses), its settings, the loss balance,
and the wrapper that adds a training-only auxiliary head's loss."""

from .aux import AuxCriterion
from .balance import LossBalance
from .config import BalanceConfig, CriterionConfig, LossChoice, obj_gain_scale, scaled_gains
from .yolov5 import YOLOv5Criterion

__all__ = [
    "AuxCriterion", "BalanceConfig", "CriterionConfig", "LossBalance", "LossChoice", "YOLOv5Criterion",
    "obj_gain_scale", "scaled_gains",
]
