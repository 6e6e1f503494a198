"""Trainer callbacks: the anchor check at training start, the epoch number for the assigner warm-up, the epoch's
assigner / loss-balance counters, and the WIDER FACE evaluation of ``best.pt`` at the end of training."""

from __future__ import annotations

from ultralytics.utils import LOGGER, RANK

from ..anchors import check_anchors, format_report
from ..config.data import wider_section
from ..config.defaults import hyp
from .wider_eval import run_wider_eval


def anchor_check(trainer) -> dict | None:
    """``on_pretrain_routine_end`` callback: check the model's anchors against the training labels and log/warn.

    Reads ``trainer.train_loader.dataset.labels``, the (unwrapped) model's ``model[-1].anchor_px`` and
    ``trainer.args.anchor_t`` / ``trainer.args.imgsz``. Never modifies the anchors. Returns the result (rank 0).
    """
    if RANK not in {-1, 0}:
        return None
    ds = getattr(getattr(trainer, "train_loader", None), "dataset", None)
    labels = getattr(ds, "labels", None)
    if labels is None:
        LOGGER.warning("anchors: the training dataset exposes no labels; anchor check skipped")
        return None
    anchor_t = float(getattr(trainer.args, "anchor_t", 4.0))
    res = check_anchors(labels, trainer.model, anchor_t=anchor_t, imgsz=int(trainer.args.imgsz))
    LOGGER.info(format_report({**res, "warnings": []}, anchor_t))
    for w in res["warnings"]:
        LOGGER.warning(f"anchors: {w}")
    return res


def wider_eval(trainer):
    """WIDER FACE easy/medium/hard AP of best.pt at the training image size, if the data is WIDER-format."""
    if RANK not in {-1, 0} or not hyp(trainer.args, "wider_eval") or not trainer.best.exists():
        return
    if wider_section(trainer.data) is None:
        return
    run_wider_eval(trainer.best, trainer.data, trainer.save_dir, imgsz=trainer.args.imgsz,
                   conf=hyp(trainer.args, "wider_conf"), device=trainer.args.device, batch=max(trainer.batch_size, 1))


def assign_epoch(trainer) -> None:
    """``on_train_epoch_start`` callback: tell the criterion the epoch (``model.assign_epoch``), for the assigner
    warm-up (``assigner_warmup`` for the first ``assigner_warmup_epochs``). Set on the trained model and its EMA copy;
    after ``--resume`` the first epoch is the checkpoint's next one, so the schedule continues where it was."""
    for m in (getattr(trainer.model, "module", trainer.model), getattr(getattr(trainer, "ema", None), "ema", None)):
        if m is not None:
            m.assign_epoch = int(trainer.epoch)


def epoch_stats(trainer) -> dict:
    """The criterion's counters of the epoch just finished (assigner counts, loss balance)."""
    crit = getattr(getattr(trainer.model, "module", trainer.model), "criterion", None)
    return dict(getattr(crit, "last_epoch_stats", {}) or {})


def log_epoch_stats(trainer):
    """Log the epoch's assigner counters (e.g. targets recovered by ``recover``) and the loss balance."""
    stats = epoch_stats(trainer)
    if stats and RANK in {-1, 0}:
        LOGGER.info("epoch stats: " + ", ".join(f"{k}={v:.4g}" for k, v in stats.items()))
