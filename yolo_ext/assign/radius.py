"""Size-adaptive centre sampling (``radius``), after FCOS centre sampling.

Tian et al., "FCOS: Fully Convolutional One-Stage Object Detection", ICCV 2019 (and the
centre-sampling improvement in its journal version): only locations close to the box centre
*and* inside the box are positives. FCOS uses a fixed radius of 1.5 strides; here the radius
grows with the target's size on the level, so tiny faces get one cell and large faces a disc.
"""

from __future__ import annotations

import torch

from .ops import LevelContext, expand_ranges
from .types import LevelTargets
from .yolov5 import check_anchor_t


class RadiusAssigner:
    """Positives = cells near the target centre, the radius scaling with target size.

    Per level and per anchor that passes the YOLOv5 ratio test (``anchor_t``), with the target
    centre (gx, gy) and size (gw, gh) in cells:

    * radius ``r = min(radius_scale * sqrt(gw * gh), radius_max)`` cells (default scale 0.5: the
      disc inscribed in a square box; cap 3 cells);
    * a cell (column i, row j), centre (i + 0.5, j + 0.5), is positive when its centre lies in the
      closed disc ``(i + 0.5 - gx)^2 + (j + 0.5 - gy)^2 <= r^2``, strictly inside the target box
      ``|i + 0.5 - gx| < gw / 2`` and ``|j + 0.5 - gy| < gh / 2``, and inside the grid;
    * the centre cell ``(gx.long(), gy.long())`` clamped into the grid is always positive.

    A target smaller than a cell (gw * gh <= 1, r <= 0.5) therefore gets exactly its centre cell
    (every other cell centre is at least 0.5 away), a 2x2-cell target up to 4 cells and a target of
    more than 6x6 cells a full disc of radius 3 (about 28 cells; 29 when centred on a cell centre). Cells are enumerated per (anchor, target)
    from a (2R+1)^2 window, R = floor(r + 0.5), sized per target (no waste on tiny faces).
    Weights are 1.
    """

    KIND = "base"
    DESCRIPTION = "FCOS-style centre sampling: cells within r = min(radius_scale*sqrt(w*h), radius_max) cells, inside the box"
    PARAMS = {"anchor_t": 4.0, "radius_scale": 0.5, "radius_max": 3.0}

    def __init__(self, anchor_t: float = 4.0, radius_scale: float = 0.5, radius_max: float = 3.0):
        self.anchor_t = check_anchor_t(anchor_t)
        self.radius_scale, self.radius_max = float(radius_scale), float(radius_max)
        if not self.radius_scale > 0:
            raise ValueError(f"radius_scale must be > 0, got {radius_scale}")
        if not 0 <= self.radius_max <= 16:
            raise ValueError(f"radius_max must be in [0, 16] cells, got {radius_max}")

    def positives(self, ctx: LevelContext, match: torch.Tensor) -> LevelTargets:
        """Positives of one level; ``match`` is bool (na, nt) anchor/target matches."""
        a, t = match.nonzero(as_tuple=True)
        gx, gy, gw, gh = ctx.tg[t, 2:6].unbind(1)
        r = (self.radius_scale * (gw * gh).sqrt()).clamp(max=self.radius_max)
        ci = gx.long().clamp(0, ctx.nx - 1)  # centre cell, as YOLOv5 (clamped)
        cj = gy.long().clamp(0, ctx.ny - 1)
        half = torch.floor(r + 0.5).long()  # window half-size R in cells
        side = 2 * half + 1
        owner, local = expand_ranges(side * side)
        s = side[owner]
        di, dj = local % s - half[owner], local // s - half[owner]
        gi, gj = ci[owner] + di, cj[owner] + dj
        dx = gi.float() + 0.5 - gx[owner]
        dy = gj.float() + 0.5 - gy[owner]
        inside = (dx * dx + dy * dy <= r[owner] ** 2) & (dx.abs() < gw[owner] / 2) & (dy.abs() < gh[owner] / 2)
        inside &= (gi >= 0) & (gi < ctx.nx) & (gj >= 0) & (gj < ctx.ny)
        keep = inside | ((di == 0) & (dj == 0))
        owner, gi, gj = owner[keep], gi[keep], gj[keep]
        tt = t[owner]
        b = ctx.tg[tt, 0].long()
        return LevelTargets(b, a[owner], gj, gi, tt, torch.ones(tt.shape, device=tt.device), None)
