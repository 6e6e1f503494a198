"""Candidate cells of the joint strategies (maxiou, atss, simota, tal), without dense targets x cells tensors.

Every joint strategy enumerates, per target, a small window of cells around it (bounded by the target's size or a
fixed count), tests the exact rule on those candidates only, and resolves "one target per cell" by sorting or by a
scatter into a per-cell tensor (cells x batch, never x targets). Candidates of all levels are concatenated, with a
global cell key ``offset[level] + cell_key(b, a, gj, gi)``, so that per-target rankings span all levels.
"""

from __future__ import annotations

from typing import List, NamedTuple, Optional, Sequence

import torch

from ..ops import cell_key, expand_ranges
from .context import LevelContext
from .types import LevelTargets

SLACK = 1e-4  # grid units added to every window: the exact test runs on the candidates, the window only bounds them


class Cands(NamedTuple):
    """Candidates of all levels: int64 (P,) level (position in the ``ctxs`` of the call), target row, image,
    anchor, row, column and global cell key."""

    lvl: torch.Tensor
    t: torch.Tensor
    b: torch.Tensor
    a: torch.Tensor
    gj: torch.Tensor
    gi: torch.Tensor
    key: torch.Tensor

    def take(self, idx: torch.Tensor) -> "Cands":
        return Cands(*(x.index_select(0, idx) for x in self))


def window(ctx: LevelContext, cx: torch.Tensor, cy: torch.Tensor, rx: torch.Tensor, ry: torch.Tensor):
    """Cells whose centre ``(i + 0.5, j + 0.5)`` lies within ``|i + 0.5 - cx| <= rx`` and ``|j + 0.5 - cy| <= ry``
    (grid units, float (K,) per owner k; ``SLACK`` added), clipped to the grid.

    Returns:
        owner, gj, gi: int64 (P,) owner index, row and column of every cell.
    """
    i0 = torch.ceil(cx - rx - SLACK - 0.5).long().clamp(min=0)
    j0 = torch.ceil(cy - ry - SLACK - 0.5).long().clamp(min=0)
    ncol = (torch.floor(cx + rx + SLACK - 0.5).long().clamp(max=ctx.nx - 1) - i0 + 1).clamp(min=0)
    nrow = (torch.floor(cy + ry + SLACK - 0.5).long().clamp(max=ctx.ny - 1) - j0 + 1).clamp(min=0)
    owner, local = expand_ranges(ncol * nrow)
    n_o = ncol.index_select(0, owner)
    return owner, j0.index_select(0, owner) + local // n_o, i0.index_select(0, owner) + local % n_o


def level_offsets(ctxs: Sequence[LevelContext]) -> List[int]:
    """Start of each level in the global cell key space (bs * na * ny * nx cells per level)."""
    out, n = [], 0
    for c in ctxs:
        out.append(n)
        n += c.bs * c.na * c.ny * c.nx
    return out + [n]


def target_windows(ctxs: Sequence[LevelContext], reach) -> Cands:
    """Candidates of every level: per (target, anchor) the cells of :func:`window` around the target centre.

    Args:
        reach: ``reach(ctx) -> (rx, ry)`` float (na, nt) half-extents in grid units of each (anchor, target).
    """
    offs, parts = level_offsets(ctxs), []
    for k, ctx in enumerate(ctxs):
        na, nt = ctx.na, ctx.tg.shape[0]
        rx, ry = reach(ctx)
        gx, gy = ctx.tg[:, 2].repeat(na), ctx.tg[:, 3].repeat(na)  # owner k = a * nt + t
        owner, gj, gi = window(ctx, gx, gy, rx.reshape(-1), ry.reshape(-1))
        a, t = owner // max(nt, 1), owner % max(nt, 1)
        b = ctx.tg[:, 0].long().index_select(0, t)
        key = cell_key(b, a, gj, gi, na, ctx.ny, ctx.nx) + offs[k]
        parts.append((torch.full_like(t, k), t, b, a, gj, gi, key))
    return Cands(*(torch.cat(x) for x in zip(*parts)))


def sortable(v: torch.Tensor) -> torch.Tensor:
    """int64 in [0, 2^32) ordered as the float32 values ``v`` (IEEE bits, negatives flipped; -0.0 as +0.0)."""
    i = (v.float() + 0.0).contiguous().view(torch.int32).long()
    return torch.where(i >= 0, i, i ^ 0x7FFFFFFF) + 2**31


def group_rank(group: torch.Tensor, value: torch.Tensor, descending: bool = False) -> torch.Tensor:
    """int64 (P,) rank of each element within its ``group`` (int64 >= 0, < 2^31) by float ``value``, ascending (or
    descending); ties keep the input order. One stable sort of an int64 key ``group << 32 | sortable(value)``: the
    joint strategies enumerate each target's candidates in global cell order, so ties go to the lower cell index."""
    n = group.numel()
    if n == 0:
        return group.clone()
    key = sortable(value)
    if descending:
        key = (2**32 - 1) - key
    order = torch.sort((group << 32) | key, stable=True).indices
    sg = group.index_select(0, order)
    pos = torch.arange(n, device=group.device)
    first = torch.ones(n, dtype=torch.bool, device=group.device)
    first[1:] = sg[1:] != sg[:-1]
    start = torch.cummax(torch.where(first, pos, torch.zeros_like(pos)), 0).values
    rank = torch.empty_like(pos)
    rank[order] = pos - start
    return rank


def group_max(group: torch.Tensor, values: torch.Tensor, size: int, fill: float = float("-inf")) -> torch.Tensor:
    """(size,) max of ``values`` per group index (``fill`` where a group is empty)."""
    out = torch.full((size,), fill, dtype=values.dtype, device=values.device)
    return out.scatter_reduce_(0, group, values, reduce="amax", include_self=True)


def best_per_cell(key: torch.Tensor, score: torch.Tensor, t: torch.Tensor, size: int) -> torch.Tensor:
    """bool (P,): for each cell key, the candidate with the highest ``score``, ties to the lowest target row ``t``."""
    cmax = group_max(key, score, size)
    top = score == cmax.index_select(0, key)
    tmin = torch.full((size,), torch.iinfo(torch.int64).max, dtype=torch.int64, device=key.device)
    tmin.scatter_reduce_(0, key[top], t[top], reduce="amin", include_self=True)
    return top & (t == tmin.index_select(0, key))


def split_levels(ctxs: Sequence[LevelContext], cands: Cands, keep: torch.Tensor, quality: Optional[torch.Tensor] = None,
                 ignore: Optional[List[torch.Tensor]] = None) -> List[LevelTargets]:
    """Per-level :class:`LevelTargets` of the candidates where ``keep`` (bool (P,)), weight 1, optional soft
    ``quality`` (P,) and per-level ignore masks."""
    out = []
    lvl = cands.lvl
    for k, ctx in enumerate(ctxs):
        idx = (keep & (lvl == k)).nonzero().squeeze(1)
        c = cands.take(idx)
        q = None if quality is None else quality.index_select(0, idx).float()
        w = torch.ones(idx.shape, dtype=torch.float32, device=idx.device)
        out.append(LevelTargets(c.b, c.a, c.gj, c.gi, c.t, w, None if ignore is None else ignore[k], q))
    return out


def gather_level(ctxs: Sequence[LevelContext], cands: Cands, per_level) -> torch.Tensor:
    """Concatenate ``per_level(ctx, cands_of_that_level)`` over levels, in candidate order (a loop over levels only).
    The candidates handed to ``per_level`` carry their cell key within the level (``cell_key(b, a, gj, gi)``), to
    read per-cell tensors flat with :func:`at`."""
    offs = level_offsets(ctxs)
    parts, order = [], []
    for k, ctx in enumerate(ctxs):
        idx = (cands.lvl == k).nonzero().squeeze(1)
        cc = cands.take(idx)
        parts.append(per_level(ctx, cc._replace(key=cc.key - offs[k])))
        order.append(idx)
    out = torch.cat(parts)
    res = torch.empty_like(out)
    res[torch.cat(order)] = out
    return res


def at(x: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Rows of a per-cell tensor ``x`` (bs, na, ny, nx, C) at flat cell keys ``key`` (int64 (m,)): (m, C). One
    index_select on a flat view: several advanced indices at once are many times slower on the CPU."""
    return x.reshape(-1, x.shape[-1]).index_select(0, key)
