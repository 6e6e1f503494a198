"""``AnchorTrainer``: the ultralytics DetectionTrainer for anchor-based yolo-ext models.

Lives in an importable module (never ``__main__``) because ultralytics DDP pickles the trainer class with cloudpickle
and rebuilds it in each worker as ``Trainer(cfg=DEFAULT_CFG_DICT, overrides=args)``: importing this module applies
our patches in the worker, and ``__init__`` merges the extension defaults again so ``get_cfg`` accepts our keys.
"""

from __future__ import annotations

import os
from copy import copy

from ultralytics.models.yolo.detect import DetectionTrainer
from ultralytics.utils import DEFAULT_CFG, LOGGER, RANK

from ..config.defaults import trainer_base_cfg
from ..config.validate import validate_trainer_args
from .callbacks import anchor_check, epoch_stats, log_epoch_stats, wider_eval
from .model import AnchorDetectionModel
from .validator import AnchorValidator


class AnchorTrainer(DetectionTrainer):
    """Train an ``AnchorDetectionModel`` with YOLOv5 defaults and the extension hyperparameters.

    Example:
        >>> AnchorTrainer(overrides={"model": "models/yolov5n.yaml", "data": "coco8.yaml", "assigner": "radius"}).train()
    """

    def __init__(self, cfg=DEFAULT_CFG, overrides=None, _callbacks=None):
        # every extension key checked before any dataset or model is built (ConfigError naming the key)
        base, overrides = validate_trainer_args(trainer_base_cfg(cfg), dict(overrides or {}))
        super().__init__(base, overrides, _callbacks)
        self.add_callback("on_train_epoch_end", log_epoch_stats)
        self.add_callback("on_train_end", wider_eval)
        self.add_callback("on_pretrain_routine_end", anchor_check)  # BPR / anchor spacing warnings

    def get_model(self, cfg=None, weights=None, verbose=True):
        model = AnchorDetectionModel(cfg, nc=self.data["nc"], ch=self.data["channels"], verbose=verbose and RANK == -1)
        model = self.set_model_names_for_load(model)
        if weights:
            model.load(weights)
        return model

    def get_validator(self):
        self.loss_names = self.loss_names or ("box_loss", "obj_loss", "cls_loss")
        return AnchorValidator(self.test_loader, save_dir=self.save_dir, args=copy(self.args), _callbacks=self.callbacks)

    def save_metrics(self, metrics):
        """Stock results.csv row plus the epoch's loss balance (weighted box/obj ratio, obj gain multiplier)."""
        stats = epoch_stats(self)
        extra = {f"train/{k}": stats.get(k, float("nan")) for k in ("box_obj_ratio", "obj_gain_scale")}
        super().save_metrics({**metrics, **extra})

    def save_model(self):
        """Stock checkpoint, written atomically: every file lands under a temporary name first, then os.replace."""
        final = {"last": self.last, "best": self.best}
        tmp = {k: p.with_name(f".{p.name}.tmp") for k, p in final.items()}
        self.last, self.best = tmp["last"], tmp["best"]
        try:
            saved = super().save_model()
        finally:
            self.last, self.best = final["last"], final["best"]
        for k, p in tmp.items():
            if p.exists():
                os.replace(p, final[k])
        return saved


__all__ = ["AnchorTrainer"]
