"""Box geometry in xywh (centre, size) form."""

from __future__ import annotations

import torch


def box_iou_xywh(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Element-wise (broadcast) IoU of xywh boxes ``a`` (..., 4) and ``b`` (..., 4); returns (...)."""
    ax1, ax2 = a[..., 0] - a[..., 2] / 2, a[..., 0] + a[..., 2] / 2
    ay1, ay2 = a[..., 1] - a[..., 3] / 2, a[..., 1] + a[..., 3] / 2
    bx1, bx2 = b[..., 0] - b[..., 2] / 2, b[..., 0] + b[..., 2] / 2
    by1, by2 = b[..., 1] - b[..., 3] / 2, b[..., 1] + b[..., 3] / 2
    iw = (torch.min(ax2, bx2) - torch.max(ax1, bx1)).clamp(min=0)
    ih = (torch.min(ay2, by2) - torch.max(ay1, by1)).clamp(min=0)
    inter = iw * ih
    union = a[..., 2].clamp(min=0) * a[..., 3].clamp(min=0) + b[..., 2] * b[..., 3] - inter
    return inter / (union + eps)
