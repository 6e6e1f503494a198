"""Size-adaptive centre sampling (``radius``), after FCOS centre sampling.

Tian et al., "FCOS: Fully Convolutional One-Stage Object Detection", ICCV 2019 (and the
centre-sampling improvement in its journal version): only locations close to the box centre
*and* inside the box are positives. FCOS uses a fixed radius of 1.5 strides; here the radius
grows with the target's size on the level, so tiny faces get one cell and large faces a disc.
"""

from __future__ import annotations

import torch

from ..ops import expand_ranges
from .base import Strategy, check_anchor_t, check_number
from .context import LevelContext
from .types import LevelTargets


class RadiusAssigner(Strategy):
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
    more than 6x6 cells a full disc of radius 3 (28 to 32 cells depending on where the centre falls).
    Cells are enumerated per (anchor, target) from the bounding rectangle of disc and box (plus the
    centre cell), so tiny faces cost one cell.
    Weights are 1. ``radius_max`` (> 0) has no upper cap: the disc is clipped to the box, so however
    large the radius a target gets at most the cells whose centres lie inside its box (and the
    anchor ratio test keeps boxes within ``anchor_t`` of an anchor's size).
    """

    DESCRIPTION = "FCOS-style centre sampling: cells within r = min(radius_scale*sqrt(w*h), radius_max) cells, inside the box"
    PARAMS = {"anchor_t": 4.0, "radius_scale": 0.5, "radius_max": 3.0}

    def __init__(self, anchor_t: float = 4.0, radius_scale: float = 0.5, radius_max: float = 3.0):
        self.anchor_t = check_anchor_t(anchor_t)
        self.radius_scale = check_number("radius_scale", radius_scale, lambda v: v > 0, "> 0 (radius per sqrt(w*h) cells)")
        self.radius_max = check_number("radius_max", radius_max, lambda v: v > 0, "> 0 (largest radius in cells)")

    def positives(self, ctx: LevelContext, match: torch.Tensor) -> LevelTargets:
        """Positives of one level; ``match`` is bool (na, nt) anchor/target matches."""
        a, t = match.nonzero(as_tuple=True)
        gx, gy, gw, gh = (c.contiguous() for c in ctx.tg.index_select(0, t)[:, 2:6].unbind(1))
        r = (self.radius_scale * (gw * gh).sqrt()).clamp(max=self.radius_max)
        ci = gx.long().clamp(0, ctx.nx - 1)  # centre cell (YOLOv5's), clamped into the grid
        cj = gy.long().clamp(0, ctx.ny - 1)
        # window: cells whose centre is within min(r, half box) (+ float slack) of the centre per axis, + the centre cell
        ex, ey = torch.min(r, gw / 2), torch.min(r, gh / 2)
        i0 = torch.min(torch.ceil(gx - ex - 0.5 - 1e-4).long().clamp(min=0), ci)
        j0 = torch.min(torch.ceil(gy - ey - 0.5 - 1e-4).long().clamp(min=0), cj)
        ncol = torch.max(torch.floor(gx + ex - 0.5 + 1e-4).long().clamp(max=ctx.nx - 1), ci) - i0 + 1
        nrow = torch.max(torch.floor(gy + ey - 0.5 + 1e-4).long().clamp(max=ctx.ny - 1), cj) - j0 + 1
        owner, local = expand_ranges(ncol * nrow)
        n_o = ncol.index_select(0, owner)
        gi = i0.index_select(0, owner) + local % n_o
        gj = j0.index_select(0, owner) + local // n_o
        dx = gi.float() + 0.5 - gx.index_select(0, owner)
        dy = gj.float() + 0.5 - gy.index_select(0, owner)
        keep = (dx * dx + dy * dy <= r.index_select(0, owner).square()) & (dx.abs() < gw.index_select(0, owner) / 2)
        keep &= dy.abs() < gh.index_select(0, owner) / 2
        keep |= (gi == ci.index_select(0, owner)) & (gj == cj.index_select(0, owner))
        k = keep.nonzero().squeeze(1)
        owner = owner.index_select(0, k)
        tt = t.index_select(0, owner)
        b = ctx.tg[:, 0].index_select(0, tt).long()
        a, gj, gi = a.index_select(0, owner), gj.index_select(0, k), gi.index_select(0, k)
        return LevelTargets(b, a, gj, gi, tt, torch.ones(tt.shape, dtype=torch.float32, device=tt.device), None)
