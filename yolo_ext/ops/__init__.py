"""Tensor operations shared across rooms (assigners, criterion, anchor analysis): no state, no Python loops."""

from .boxes import box_iou_xywh
from .indexing import cell_key, expand_ranges, lexsort
from .shape_match import shape_ratio

__all__ = ["box_iou_xywh", "cell_key", "expand_ranges", "lexsort", "shape_ratio"]
