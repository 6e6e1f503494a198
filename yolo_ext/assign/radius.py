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
    more than 6x6 cells a full disc of radius 3 (28 to 32 cells depending on where the centre falls). Cells are enumerated per (anchor, target)
    from the bounding rectangle of disc and box (plus the centre cell), so tiny faces cost one cell.
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
        gxy, gwh = ctx.tg[t, 2:4], ctx.tg[t, 4:6]
        r = (self.radius_scale * gwh.prod(1).sqrt()).clamp(max=self.radius_max)
        centre = gxy.long().clamp(min=0)  # centre cell (YOLOv5's), clamped into the grid
        centre = torch.min(centre, torch.tensor([ctx.nx - 1, ctx.ny - 1], device=centre.device))
        # window: cells whose centre is within min(r, half box) (+ float slack) of the centre per axis, + the centre cell
        reach = torch.min(r[:, None], gwh / 2)
        lo = torch.min(torch.ceil(gxy - reach - 0.5 - 1e-4).long().clamp(min=0), centre)
        hi = torch.max(torch.floor(gxy + reach - 0.5 + 1e-4).long(), centre)
        hi = torch.min(hi, torch.tensor([ctx.nx - 1, ctx.ny - 1], device=hi.device))
        size = hi - lo + 1  # (M, 2) columns, rows
        owner, local = expand_ranges(size[:, 0] * size[:, 1])
        gi = lo[owner, 0] + local % size[owner, 0]
        gj = lo[owner, 1] + local // size[owner, 0]
        dx = gi.float() + 0.5 - gxy[owner, 0]
        dy = gj.float() + 0.5 - gxy[owner, 1]
        half = gwh[owner] / 2
        keep = (dx * dx + dy * dy <= r[owner] ** 2) & (dx.abs() < half[:, 0]) & (dy.abs() < half[:, 1])
        keep |= (gi == centre[owner, 0]) & (gj == centre[owner, 1])
        owner, gi, gj = owner[keep], gi[keep], gj[keep]
        tt = t[owner]
        b = ctx.tg[tt, 0].long()
        return LevelTargets(b, a[owner], gj, gi, tt, torch.ones(tt.shape, device=tt.device), None)
