"""Result types returned by every assigner.

An assignment is a list, one entry per detection level, of :class:`LevelTargets`:
flat index tensors naming the positive (image, anchor, row, column) cells, the
target row each positive learns from, its loss weight, optionally a mask
of negatives to leave out of the objectness loss and, for strategies with soft
targets (``tal``, ``simota``), each positive's objectness target (``quality``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterator, List, NamedTuple, Optional

import torch


class LevelTargets(NamedTuple):
    """Positives of one detection level.

    Attributes:
        b: int64 (m,) image index of each positive.
        a: int64 (m,) anchor index (0..na-1).
        gj: int64 (m,) grid row (0..ny-1).
        gi: int64 (m,) grid column (0..nx-1).
        t: int64 (m,) row of the ``targets`` tensor the positive comes from.
        weight: float32 (m,) loss weight in (0, 1]; 1 for plain positives.
        ignore: None, or bool (bs, na, ny, nx): negatives excluded from the
            objectness loss (never True at a positive cell).
        quality: None, or float32 (m,) in [0, 1]: the positive's soft objectness target, set by strategies
            that produce one (TAL's normalised alignment, SimOTA's IoU); the criterion then uses it in place of
            YOLOv5's ``(1 - gr) + gr * IoU`` (and as the quality of soft class targets). None: YOLOv5's target.
    """

    b: torch.Tensor
    a: torch.Tensor
    gj: torch.Tensor
    gi: torch.Tensor
    t: torch.Tensor
    weight: torch.Tensor
    ignore: Optional[torch.Tensor] = None
    quality: Optional[torch.Tensor] = None

    @property
    def num(self) -> int:
        """Number of positives m (from the shape: no host-device sync)."""
        return int(self.b.shape[0])

    def select(self, keep: torch.Tensor) -> "LevelTargets":
        """Keep the positives where ``keep`` (bool (m,) or int64 index) says so (``quality`` too); ``ignore`` is kept.

        A bool mask is turned into indices once (one nonzero: on a GPU one sync, not one per field).
        """
        if keep.dtype == torch.bool:
            keep = keep.nonzero().squeeze(1)
        b, a, gj, gi, t, w = (x.index_select(0, keep) for x in (self.b, self.a, self.gj, self.gi, self.t, self.weight))
        q = None if self.quality is None else self.quality.index_select(0, keep)
        return LevelTargets(b, a, gj, gi, t, w, self.ignore, q)


@dataclass
class Assignment:
    """Per-level positives plus counters worth logging.

    ``stats`` maps a counter name to a 0-d int64 tensor on the inputs' device: ``positives`` (all
    levels) and one key per modifier of the spec (``recovered`` targets, ``dedup_removed``
    positives, ``ignored`` cells, ...). They stay tensors so that an assigner call never waits for
    the device: a caller accumulates them as tensors and converts once per epoch
    (``float(total)``); converting every batch would stall a GPU at every step.

    Iterating, ``len()`` and indexing go over ``levels``, so
    ``for b, a, gj, gi, t, w, ign, quality in assignment`` works.
    """

    levels: List[LevelTargets]
    stats: Dict[str, torch.Tensor] = field(default_factory=dict)

    def __iter__(self) -> Iterator[LevelTargets]:
        return iter(self.levels)

    def __len__(self) -> int:
        return len(self.levels)

    def __getitem__(self, i: int) -> LevelTargets:
        return self.levels[i]
