"""The YOLOv5 anchor shape-match metric, shared by the assigners and the anchor analysis.

Jocher et al., ultralytics/yolov5 ``utils/loss.py::build_targets`` and ``utils/autoanchor.py``: for a label of size
``wh`` and an anchor ``k``, ``r = wh / k`` per axis; the metric is ``max(r, 1/r)`` maximised over w and h (1 for a
perfect fit, larger for a worse one). The assigner keeps a match when ``metric < anchor_t``; autoanchor's
``x = min(r, 1/r).min(w, h)`` is its reciprocal, ``1 / metric``.
"""

from __future__ import annotations

import torch


def shape_ratio(wh: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """YOLOv5 shape-match metric of every (anchor, label) pair.

    Args:
        wh: (..., n, 2) label w,h (any unit, the same as ``anchors``).
        anchors: (..., K, 2) anchor w,h; leading dimensions broadcast against ``wh``'s.
    Returns:
        (..., K, n) float ``max(r, 1/r).max(w, h)`` with ``r = wh / anchor`` (evaluated exactly as YOLOv5 does).
    """
    r = wh.unsqueeze(-3) / anchors.unsqueeze(-2)  # (..., K, n, 2)
    return torch.max(r, 1 / r).amax(-1)
