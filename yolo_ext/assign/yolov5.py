"""YOLOv5 label assignment (``yolov5``) and its distance-weighted variant (``distance``).

Base strategies turn the per-level anchor matches (``metric < anchor_t``, an (na, nt) bool
mask from :meth:`Strategy.match`) into positive cells.
"""

from __future__ import annotations

from typing import Tuple

import torch

from .base import Strategy, check_anchor_t
from .context import LevelContext
from .types import LevelTargets

# YOLOv5 neighbour offsets (ultralytics/yolov5 utils/loss.py, build_targets): centre, then the
# left, up, right and down neighbours, scaled by the bias g = 0.5; the cell is (gxy - offset).long().
_G = 0.5


def _offsets(device: torch.device) -> torch.Tensor:
    """float32 (5, 2) ``[[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]] * g``, filled on ``device``.

    Built with scalar fills rather than copied from a host constant: a host-to-device copy would
    wait for the device at every call.
    """
    off = torch.zeros(5, 2, device=device)
    for (row, col), v in (((1, 0), _G), ((2, 1), _G), ((3, 0), -_G), ((4, 1), -_G)):
        off[row, col].fill_(v)
    return off


class YOLOv5Assigner(Strategy):
    """YOLOv5 v6/v7 ``ComputeLoss.build_targets``, reproduced bit for bit.

    Per level, a target matches every anchor whose w,h ratio passes ``max(r, 1/r) < anchor_t``
    and is assigned to its centre cell plus the two nearest neighbour cells: left if
    ``gx % 1 < 0.5 and gx > 1``, up if ``gy % 1 < 0.5 and gy > 1``, right if
    ``(nx - gx) % 1 < 0.5 and nx - gx > 1``, down likewise; cells are ``(gxy - offset).long()``
    clamped into the grid (so the multiset can hold duplicates, as in YOLOv5). Weights are 1.
    """

    DESCRIPTION = "YOLOv5 build_targets: anchor ratio test, centre cell + 2 nearest neighbours (exact)"
    PARAMS = {"anchor_t": 4.0}

    def __init__(self, anchor_t: float = 4.0):
        self.anchor_t = check_anchor_t(anchor_t)

    def cells(self, ctx: LevelContext, match: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Expand anchor matches into YOLOv5 cells.

        Args:
            ctx: level context.
            match: bool (na, nt) anchor/target matches.
        Returns:
            a, t, gj, gi: int64 (m,) anchor, target row, clamped row and column.
            dist: float32 (m,) distance along the offset axis from the target centre to the chosen
                neighbour cell's nearest edge, in cells (the quantity YOLOv5 compares with 0.5);
                0 for the centre cell.
        """
        gxy = ctx.tg[:, 2:4]  # (nt, 2) grid xy, same float32 values as YOLOv5's t[:, 2:4]
        gxi = ctx.gain[2:4] - gxy  # inverse
        fxy, fxi = gxy % 1, gxi % 1
        j, k = ((fxy < _G) & (gxy > 1)).T
        l, m = ((fxi < _G) & (gxi > 1)).T
        near = torch.stack((torch.ones_like(j), j, k, l, m))  # (5, nt): centre, left, up, right, down
        # one nonzero over (offset, anchor, target): YOLOv5's order (offset-major, then its (anchor, target)
        # match order), with one dynamic-shape sync per level instead of two
        o, a, t = (near[:, None, :] & match[None]).nonzero(as_tuple=True)
        gij = (gxy[t] - _offsets(gxy.device)[o]).long()
        gi = gij[:, 0].clamp(0, ctx.nx - 1)
        gj = gij[:, 1].clamp(0, ctx.ny - 1)
        dist = torch.stack((torch.zeros_like(fxy[:, 0]), fxy[:, 0], fxy[:, 1], fxi[:, 0], fxi[:, 1]))[o, t]
        return a, t, gj, gi, dist

    def weights(self, dist: torch.Tensor) -> torch.Tensor:
        """Loss weight of each positive from its neighbour distance: 1 everywhere for YOLOv5."""
        return torch.ones_like(dist)

    def positives(self, ctx: LevelContext, match: torch.Tensor) -> LevelTargets:
        """Positives of one level (see class docstring); ``match`` is bool (na, nt)."""
        a, t, gj, gi, dist = self.cells(ctx, match)
        b = ctx.tg[t, 0].long()
        return LevelTargets(b, a, gj, gi, t, self.weights(dist), None)


class DistanceAssigner(YOLOv5Assigner):
    """YOLOv5's positives, each neighbour cell weighted by how close the target centre is to it.

    Rule (per offset axis, in cells): weight = 1 - d, where d is the distance from the target
    centre to the nearest edge of the neighbour cell, i.e. the fractional part YOLOv5 tests
    against 0.5: ``gx % 1`` for the left neighbour, ``(nx - gx) % 1`` for the right one (same for
    up/down with y). The centre cell gets 1. Examples: gx = 3.51 -> cell 4 with 0.51, 3.99 -> 0.99,
    3.49 -> cell 2 with 0.51, 3.01 -> cell 2 with 0.99. Neighbours are only taken when d < 0.5, so
    weights lie in (0.5, 1]. A centre exactly on a cell edge (d = 0) gives a full-weight neighbour.
    """

    DESCRIPTION = "yolov5 positives, neighbour cells weighted 1 - (distance from centre to the cell), in (0.5, 1]"
    PARAMS = {"anchor_t": 4.0}

    def weights(self, dist: torch.Tensor) -> torch.Tensor:
        return 1.0 - dist
