"""Loss balance: the weighted box-to-objectness ratio, measured per epoch, optionally steering the obj gain.

A practitioner's finding on WIDER FACE with YOLOv5: the weighted box loss to weighted objectness loss ratio should end
near 1:2 (``balance_target = 0.5``). Each epoch the criterion sums its weighted box and obj losses; ``end_epoch()``
reports ``box_obj_ratio`` (written to results.csv by the trainer). With ``adapt_obj_gain`` the obj gain multiplier is
moved toward the target: ``scale *= clip(sqrt(ratio / target), 0.5, 2)`` (damped, at most x2 per epoch). The
multiplier is written back to the run's args (``obj_gain_scale``) so checkpoints and ``--resume`` continue from it;
under DDP the sums are all-reduced first so every rank applies the same scale.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from ..config.defaults import hyp


class LossBalance:
    """Per-epoch box/obj ratio monitor and optional objectness-gain controller."""

    def __init__(self, args):
        self.args = args
        self.target = float(hyp(args, "balance_target"))
        self.adapt = bool(hyp(args, "adapt_obj_gain"))
        self.scale = float(hyp(args, "obj_gain_scale"))
        if not self.target > 0 or not self.scale > 0:
            raise ValueError(f"balance_target ({self.target}) and obj_gain_scale ({self.scale}) must be > 0")
        self.sums = None

    def accumulate(self, loss_vec: torch.Tensor) -> None:
        """Add one batch's weighted (box, obj, cls) losses (detached)."""
        self.sums = loss_vec.double() if self.sums is None else self.sums + loss_vec.double()

    def end_epoch(self) -> dict:
        """Ratio of the epoch's weighted box to obj loss; adapts the obj scale if enabled. Resets the sums."""
        if self.sums is None:
            return {}
        sums, self.sums = self.sums, None
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(sums)
        box, obj = float(sums[0]), float(sums[1])
        ratio = box / obj if obj > 0 else float("inf")
        if self.adapt and math.isfinite(ratio) and ratio > 0:
            self.scale *= min(max(math.sqrt(ratio / self.target), 0.5), 2.0)
            self._write_back()
        return {"box_obj_ratio": ratio, "obj_gain_scale": self.scale}

    def _write_back(self):
        if isinstance(self.args, dict):
            self.args["obj_gain_scale"] = self.scale
        else:
            setattr(self.args, "obj_gain_scale", self.scale)
