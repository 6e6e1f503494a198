"""The loss of a model with a training-only auxiliary head: the lead head's criterion plus ``aux_weight`` times the
same criterion on the auxiliary head's maps (deep supervision; YOLOv7's lead + auxiliary heads, Wang et al. 2022,
weight 0.25), optionally with its own assigner (``aux_assigner``, e.g. ``radius``: more positives per face).

The wrapper touches neither criterion: both are plain ``YOLOv5Criterion`` objects, the auxiliary one built on a view of
the model whose args carry ``assigner = aux_assigner`` (read at call time, so ``obj_gain_scale`` written back by the
loss balance applies to both heads). Only the lead head's losses feed the loss balance and the epoch counters (the
auxiliary criterion's ``update()`` is never called).

Returns ``(loss (4,) * batch_size, items)``: the lead head's ``box_loss, obj_loss, cls_loss`` and ``aux_loss`` =
``aux_weight * (aux box + obj + cls)``, so the progress bar and results.csv show it and the total adds it.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .config import read
from .yolov5 import YOLOv5Criterion


class AuxModelView:
    """What ``YOLOv5Criterion`` reads from a model (``args``, ``model``, ``class_weights``), with ``overrides``
    applied to the args at every read."""

    def __init__(self, model, overrides: dict):
        self._model, self._overrides = model, dict(overrides)

    @property
    def model(self):
        return self._model.model

    @property
    def class_weights(self):
        return getattr(self._model, "class_weights", None)

    @property
    def assign_epoch(self):
        """The epoch the trainer set on the model (the assigner warm-up reads it), None outside training."""
        return getattr(self._model, "assign_epoch", None)

    @property
    def args(self) -> dict:
        a = self._model.args
        return {**(dict(a) if isinstance(a, Mapping) else dict(vars(a))), **self._overrides}


class AuxCriterion:
    """``YOLOv5Criterion`` of the lead head + ``aux_weight`` x ``YOLOv5Criterion`` of the auxiliary head."""

    loss_names = YOLOv5Criterion.loss_names + ("aux_loss",)

    def __init__(self, model):
        self.model = model
        self.main = YOLOv5Criterion(model)
        aux_assigner = str(read(model.args, "aux_assigner")) or self.main.config.assigner
        self.aux = YOLOv5Criterion(AuxModelView(model, {"assigner": aux_assigner}))
        self.aux_weight = float(read(model.args, "aux_weight"))
        if not self.aux_weight >= 0:
            raise ValueError(f"aux_weight={self.aux_weight!r}: must be >= 0")

    def __call__(self, preds, batch: dict):
        raw = preds[1] if isinstance(preds, tuple) else preds
        loss, items = self.main(preds, batch)
        aux_maps = raw.get("aux")
        if aux_maps is None:  # the auxiliary head was dropped (fused model): nothing to add
            aux = torch.zeros((), device=loss.device)
        else:
            aux_loss, _ = self.aux({"preds": aux_maps}, batch)  # (3,) * batch size; its balance is never read
            aux = aux_loss.sum() * self.aux_weight
        bs = raw["preds"][0].shape[0]
        return torch.cat((loss, aux.view(1).to(loss.dtype))), {**items, "aux_loss": aux.detach() / bs}

    @property
    def last_epoch_stats(self) -> dict:
        return self.main.last_epoch_stats

    @property
    def stats(self) -> dict:
        return self.main.stats

    def update(self):
        """Per-epoch hook: the lead head's counters and loss balance."""
        self.main.update()
