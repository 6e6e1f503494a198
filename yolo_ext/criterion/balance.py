"""Loss balance: the weighted box-to-objectness ratio, measured per epoch, optionally steering the obj gain.

A practitioner's finding on WIDER FACE with YOLOv5: the weighted box loss to weighted objectness loss ratio should end
near 1:2 (``balance_target = 0.5``). Each epoch the criterion sums its weighted box and obj losses; ``end_epoch()``
reports ``box_obj_ratio`` (written to results.csv by the trainer). With ``adapt_obj_gain`` the obj gain multiplier is
moved toward the target: ``scale *= clip(sqrt(ratio / target), 0.5, 2)`` (damped, at most x2 per epoch).

The multiplier lives in the run args (``obj_gain_scale``), not here: ``end_epoch(args)`` reads it from the args it is
given and writes the new value back, so checkpoints and ``--resume`` continue from it, and every criterion that reads
the same args at call time (the EMA model's, which ultralytics' ``ModelEMA.update_attr`` hands the training model's
``args`` object) uses the same gain. Under DDP the sums are all-reduced first so every rank applies the same scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Optional

import torch
import torch.distributed as dist

from .config import BalanceConfig, obj_gain_scale


def write_obj_gain_scale(args, scale: float) -> None:
    """Store ``obj_gain_scale`` in the run args (namespace or dict)."""
    if isinstance(args, Mapping):
        args["obj_gain_scale"] = scale
    else:
        setattr(args, "obj_gain_scale", scale)


class LossBalance:
    """Per-epoch box/obj ratio monitor and optional objectness-gain controller."""

    def __init__(self, config: BalanceConfig):
        self.config = config
        self.sums: Optional[torch.Tensor] = None  # (3,) float64 weighted (box, obj, cls) of the epoch, on the device

    def accumulate(self, loss_vec: torch.Tensor) -> None:
        """Add one batch's weighted (box, obj, cls) losses, (3,) (detached; stays on the device: no sync)."""
        self.sums = loss_vec.double() if self.sums is None else self.sums + loss_vec.double()

    def end_epoch(self, args) -> dict:
        """Ratio of the epoch's weighted box to obj loss; with ``adapt`` moves ``args``' obj_gain_scale toward the
        target and writes it back. Resets the sums. Returns ``{}`` if nothing was accumulated, else
        ``{"box_obj_ratio": float, "obj_gain_scale": float}``."""
        if self.sums is None:
            return {}
        sums, self.sums = self.sums, None
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(sums)
        box, obj = sums[:2].tolist()  # the one host sync of the epoch's balance
        ratio = box / obj if obj > 0 else float("inf")
        scale = obj_gain_scale(args)
        if self.config.adapt and math.isfinite(ratio) and ratio > 0:
            scale *= min(max(math.sqrt(ratio / self.config.target), 0.5), 2.0)
            write_obj_gain_scale(args, scale)
        return {"box_obj_ratio": ratio, "obj_gain_scale": scale}
