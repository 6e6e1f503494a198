"""Index arithmetic on flat tensors: cell keys, range expansion, lexicographic sort (no Python loops)."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch


def cell_key(b: torch.Tensor, a: torch.Tensor, gj: torch.Tensor, gi: torch.Tensor, na: int, ny: int, nx: int) -> torch.Tensor:
    """Flat int64 index of (image, anchor, row, column) into a (bs, na, ny, nx) tensor."""
    return ((b * na + a) * ny + gj) * nx + gi


def expand_ranges(counts: torch.Tensor, total: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Enumerate ``counts[k]`` items for every owner k without a Python loop.

    Args:
        counts: int64 (K,) non-negative.
        total: ``sum(counts)`` when the caller already knows it on the host; otherwise it is read
            from the device (on a GPU a sync, the price of an output whose size depends on values).
    Returns:
        owner: int64 (sum(counts),) owner index k of each item.
        local: int64 (sum(counts),) position 0..counts[k]-1 of the item within its owner.
    """
    counts = counts.clamp(min=0)
    owner = torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device), counts, output_size=total)
    start = torch.cumsum(counts, 0) - counts
    local = torch.arange(owner.numel(), device=counts.device) - start[owner]
    return owner, local


def lexsort(keys: Sequence[torch.Tensor]) -> torch.Tensor:
    """Indices sorting by ``keys[0]``, ties by ``keys[1]``, ... (all (m,), ascending; stable)."""
    order = torch.arange(keys[0].numel(), device=keys[0].device)
    for k in reversed(keys):
        order = order[torch.sort(k[order], stable=True)[1]]
    return order
