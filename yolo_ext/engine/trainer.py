"""``AnchorTrainer``: the ultralytics DetectionTrainer for anchor-based yolo-ext models.

Lives in an importable module (never ``__main__``) because ultralytics DDP pickles the trainer class with cloudpickle
and rebuilds it in each worker as ``Trainer(cfg=DEFAULT_CFG_DICT, overrides=args)``: importing this module applies
our patches in the worker, and ``__init__`` merges the extension defaults again so ``get_cfg`` accepts our keys.
"""

from __future__ import annotations

from copy import copy

from ultralytics.models.yolo.detect import DetectionTrainer
from ultralytics.utils import DEFAULT_CFG, RANK

from ..augment import CutoutConfig, SquareCropConfig, Tricks, attach
from ..config.data import check_local_inputs, wider_section
from ..config.defaults import hyp, trainer_base_cfg
from ..config.validate import validate_trainer_args
from ..utils.files import atomic_path
from .callbacks import anchor_check, assign_epoch, epoch_stats, log_epoch_stats, wider_eval
from .model import AnchorDetectionModel
from .rundir import claim_run_dir, drop_rows_after
from .validator import AnchorValidator

RAYTUNE_CALLBACKS = "ultralytics.utils.callbacks.raytune"  # module of ultralytics' Ray Tune integration callback


class AnchorTrainer(DetectionTrainer):
    """Train an ``AnchorDetectionModel`` with YOLOv5 defaults and the extension hyperparameters.

    Example:
        >>> AnchorTrainer(overrides={"model": "models/yolov5n.yaml", "data": "synth", "assigner": "radius"}).train()
    """

    def __init__(self, cfg=DEFAULT_CFG, overrides=None, _callbacks=None):
        # every extension key checked before any dataset or model is built (ConfigError naming the key)
        base, overrides = validate_trainer_args(trainer_base_cfg(cfg), dict(overrides or {}))
        overrides = check_local_inputs(overrides)  # data / weights must be local: nothing reaches a downloader
        # the run directory is decided and locked before ultralytics writes args.yaml into it (engine/rundir.py)
        overrides, self.run_lock = claim_run_dir(base, overrides)
        try:
            super().__init__(base, overrides, _callbacks)
            self.check_wider_paths()
        except BaseException:
            self.release_run_dir()
            raise
        self.drop_raytune_callbacks()
        self.add_callback("on_train_epoch_start", assign_epoch)  # the assigner warm-up reads the epoch
        self.add_callback("on_train_epoch_end", log_epoch_stats)
        self.add_callback("on_train_end", wider_eval)
        self.add_callback("on_pretrain_routine_end", anchor_check)  # BPR / anchor spacing warnings

    def drop_raytune_callbacks(self) -> None:
        """Remove ultralytics' Ray Tune integration callback (added whenever ray is installed). It reports only to
        a Ray Tune session running the training in-process; ``python -m yolo_ext.tune`` trains every trial in its own
        worker process and reports itself (``tune/trial.py``), so the callback never reports here, yet outside a
        session it warns every epoch (ray's ``get_trial_id ... only be called inside a function`` UserWarning)."""
        for event, fns in self.callbacks.items():
            self.callbacks[event] = [f for f in fns if getattr(f, "__module__", "") != RAYTUNE_CALLBACKS]

    def train(self):
        """Stock training; the run-directory lock is released when it ends (also on error)."""
        try:
            return super().train()
        finally:
            self.release_run_dir()

    def release_run_dir(self) -> None:
        if getattr(self, "run_lock", None) is not None:
            self.run_lock.release()

    def resume_training(self, ckpt):
        """Stock resume, then results.csv keeps each epoch once: rows after the checkpoint's epoch are dropped."""
        super().resume_training(ckpt)
        if self.resume and ckpt is not None and RANK in {-1, 0}:
            drop_rows_after(self.csv, self.start_epoch)

    def check_wider_paths(self) -> None:
        """Fail now, not after training, if the end-of-training WIDER evaluation could not run: the ``widerface:``
        section of the data YAML (``gt_dir``, ``val_images``) must name existing paths. Runs in the constructor, after
        ultralytics parsed the data YAML (``self.data``) and before any dataset scan. Skipped with ``wider_eval=False``.

        Raises:
            FileNotFoundError: naming the data YAML, the key and the missing path.
        """
        if not hyp(self.args, "wider_eval"):
            return
        try:
            wider_section(self.data)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"{self.args.data}: {e} (needed by the WIDER FACE evaluation at the end of "
                                    "training; fix the path or train with wider_eval=False)") from None

    def get_model(self, cfg=None, weights=None, verbose=True):
        model = AnchorDetectionModel(cfg, nc=self.data["nc"], ch=self.data["channels"], verbose=verbose and RANK == -1)
        if hyp(self.args, "aux_head"):
            model.add_aux_head()  # before load(): a checkpoint's auxiliary head (if it has one) is transferred too
        model = self.set_model_names_for_load(model)
        if weights:
            model.load(weights, backbone_only=hyp(self.args, "transfer") == "backbone")
        return model

    def build_dataset(self, img_path, mode="train", batch=None):
        """The stock dataset; a training one gets the run's cutout / square crop (``yolo_ext.augment.attach``)."""
        dataset = super().build_dataset(img_path, mode, batch)
        return attach(dataset, run_tricks(self.args)) if mode == "train" else dataset

    def get_validator(self):
        model = getattr(self.model, "module", self.model)
        self.loss_names = self.loss_names or ("box_loss", "obj_loss", "cls_loss") + (
            ("aux_loss",) if model.head.has_aux else ())
        return AnchorValidator(self.test_loader, save_dir=self.save_dir, args=copy(self.args), _callbacks=self.callbacks)

    def save_metrics(self, metrics):
        """Stock results.csv row plus the epoch's loss balance (weighted box/obj ratio, obj gain multiplier)."""
        stats = epoch_stats(self)
        extra = {f"train/{k}": stats.get(k, float("nan")) for k in ("box_obj_ratio", "obj_gain_scale")}
        super().save_metrics({**metrics, **extra})

    def save_model(self):
        """Stock checkpoint, written atomically: ultralytics writes last.pt / best.pt to the temporary paths of
        ``yolo_ext.utils.files.atomic_path``, which then replace the real files (best.pt only when it was written)."""
        final = (self.last, self.best)
        try:
            with atomic_path(self.best) as best, atomic_path(self.last) as last:  # last.pt lands first, as upstream
                self.last, self.best = last, best
                try:
                    saved = super().save_model()
                finally:
                    self.last, self.best = final
        except OSError as e:  # e.g. a full disk: the temporaries are gone, the previous checkpoints untouched
            raise OSError(e.errno, f"could not save the checkpoint {self.last} ({e.strerror or e}); the previous "
                                   f"{self.last.name} / {self.best.name} in {self.wdir} are kept unchanged") from e
        return saved


def run_tricks(args) -> Tricks:
    """The augmentation settings of a run (trainer args, validated by the constructor) as ``yolo_ext.augment``
    configs."""
    cutout = CutoutConfig(p=hyp(args, "cutout"), holes=hyp(args, "cutout_holes"),
                          scale=tuple(hyp(args, "cutout_scale")), min_visible=hyp(args, "cutout_min_visible"),
                          fill=hyp(args, "cutout_fill"))
    square = SquareCropConfig(p=hyp(args, "square_crop"), scale=tuple(hyp(args, "square_crop_scale")))
    return Tricks(cutout=cutout, square_crop=square)


__all__ = ["AnchorTrainer", "run_tricks"]
