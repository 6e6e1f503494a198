"""Extension hyperparameters: names, defaults, and how they ride along ultralytics' cfg machinery.

ultralytics' ``get_cfg`` rejects keys it does not know. The trainer therefore merges ``ext_defaults()`` into its base
cfg before ``BaseTrainer.__init__`` (so the keys reach ``args.yaml``, ``model.args``, the checkpoint's ``train_args``,
``--resume`` and the DDP worker, which rebuilds the trainer from the same overrides), and ``strip_ext`` removes them
again before a stock ``BaseValidator`` parses its args. ``data/hyps/hyp.scratch-low.yaml`` holds the same defaults
for users to copy; a test keeps the two in step.
"""

from __future__ import annotations

from copy import deepcopy
from types import SimpleNamespace

from ultralytics.cfg import cfg2dict
from ultralytics.utils import DEFAULT_CFG_DICT

from ..assign import assigner_params
from ..losses import LOSSES

# YOLOv5 hyp.scratch-low values for keys ultralytics already has but with other defaults.
YOLOV5_OVERRIDES = {
    "optimizer": "SGD",  # YOLOv5: SGD, not ultralytics' 'auto' (which ignores lr0)
    "lr0": 0.01,
    "lrf": 0.01,
    "momentum": 0.937,
    "weight_decay": 0.0005,
    "warmup_epochs": 3.0,
    "warmup_momentum": 0.8,
    "warmup_bias_lr": 0.1,
    "box": 0.05,  # YOLOv5 box gain (CIoU), ultralytics' 7.5 is for its DFL loss
    "cls": 0.5,
}

# Keys ultralytics does not have.
CRITERION_DEFAULTS = {
    "assigner": "yolov5",  # label assignment spec, see `train.py --assigner list`
    "assigner_warmup": "",  # assigner spec of the first assigner_warmup_epochs epochs ('' = none), e.g. atss before tal
    "assigner_warmup_epochs": 0,  # epochs assigned by assigner_warmup (YOLOv6 / PP-YOLOE: ATSS, then TAL)
    "obj": 1.0,  # objectness loss gain
    "obj_pw": 1.0,  # objectness BCE positive weight (YOLOv5 obj_pw)
    "cls_pos_weight": 1.0,  # class BCE positive weight (YOLOv5's cls_pw; ultralytics' cls_pw means class-frequency weighting)
    "cls_label_smoothing": 0.0,  # class label smoothing epsilon (YOLOv5 smooth_BCE; ultralytics drops label_smoothing)
    "gr": 1.0,  # objectness target = (1 - gr) + gr * IoU
    "scale_gains": True,  # scale box/obj/cls gains by levels, classes and imgsz as YOLOv5 train.py does
    "autobalance": False,  # YOLOv5 per-level objectness balance adaptation
    "assign_weight_box": True,  # assigner per-positive weights scale the box loss
    "assign_weight_obj": True,  # ... and the objectness target
    # losses (yolo_ext.losses): names, normalisation, OHEM
    "obj_loss": "bce",  # objectness loss: bce, focal, qfl, vfl
    "cls_loss": "bce",  # class loss (nc > 1): bce, focal, qfl, vfl
    "obj_norm": "auto",  # auto (the loss's default), mean (YOLOv5), pos, target_sum, sum
    "cls_norm": "auto",
    "obj_norm_gain": 0.03,  # extra obj gain when obj_norm is not "mean"; see the note below
    "ohem": False,  # online hard example mining for objectness negatives
    "ohem_ratio": 3.0,  # negatives per positive, per image
    "ohem_min_neg": 64,  # at least this many negatives per image
    # loss balance (balance.py)
    "balance_target": 0.5,  # target weighted box:obj ratio (1:2)
    "adapt_obj_gain": False,  # steer the obj gain toward balance_target once per epoch
    "obj_gain_scale": 1.0,  # current obj gain multiplier (written back by adapt_obj_gain)
    # WIDER FACE evaluation at the end of training (data YAMLs with a `widerface:` section)
    "wider_eval": True,  # predict WIDER val with best.pt, write wider_ap.json / wider_pr.png in the run dir
    "wider_conf": 0.01,  # confidence threshold of the WIDER predictions
    # --weights: "full" refuses a checkpoint whose detection head (or anchors) did not load; "backbone" allows it
    "transfer": "full",
}

# Training-time tricks that leave the deploy graph alone (yolo_ext.augment; the auxiliary head: nn/head.py and
# criterion/aux.py)
TRICK_DEFAULTS = {
    "cutout": 0.0,  # probability of cutout / random erasing per training image (0 = off)
    "cutout_holes": 3,  # holes per image
    "cutout_scale": [0.02, 0.2],  # each hole's area as a fraction of the image area: [low, high]
    "cutout_min_visible": 0.4,  # a box whose visible fraction falls below this is dropped from the labels (YOLOv5: 0.4)
    "cutout_fill": "random",  # 'random' (a colour per hole, YOLOv5) or a grey value 0..255 (114 = ultralytics' pad)
    "square_crop": 0.0,  # probability of a SCRFD square crop instead of the mosaic/affine path (0 = off)
    "square_crop_scale": [0.3, 2.0],  # the square's side as a fraction of the image's short side: [low, high]
    "aux_head": False,  # add the training-only auxiliary anchor head (also: `aux_head: true` in the model YAML)
    "aux_weight": 0.25,  # weight of the auxiliary head's loss in the total (YOLOv7: 0.25)
    "aux_assigner": "",  # the auxiliary head's assigner spec; '' = the main assigner
}

# obj_norm_gain: under "mean" a positive cell of level i weighs balance_i / cells_i; under "pos" it weighs
# 1 / positives. Measured on the built-in synthetic WIDER set (yolov5n-1a, 416 px, batch 16, yolov5 assigner, 5 batches:
# `python bench/measure_obj_norm_gain.py`), sum_i(balance_i * pos_i / cells_i) = 0.021-0.036, mean 0.030: with
# obj_norm_gain = 0.03 a positive weighs about the same under both modes, so switching loss keeps the box:obj balance.


def loss_param_defaults() -> dict:
    """``{loss}_{param}`` keys for every loss parameter except pos_weight (set by obj_pw / cls_pos_weight).

    Derived from ``LOSSES`` at call time, so a loss registered later gets its keys."""
    return {f"{name}_{p}": v for name, spec in LOSSES.items() for p, v in spec.params.items() if p != "pos_weight"}


def ext_defaults() -> dict:
    """Every extension key with its default (assigner and loss parameters included)."""
    return deepcopy({**CRITERION_DEFAULTS, **TRICK_DEFAULTS, **loss_param_defaults(), **assigner_params()})


def trainer_base_cfg(cfg) -> dict:
    """ultralytics defaults < YOLOv5 defaults < extension defaults < whatever ``cfg`` sets differently from
    ultralytics' defaults (``cfg``: dict, path or namespace; ultralytics' DEFAULT_CFG gives the plain merge)."""
    user = {k: v for k, v in cfg2dict(cfg).items() if k not in DEFAULT_CFG_DICT or v != DEFAULT_CFG_DICT[k]}
    return {**DEFAULT_CFG_DICT, **YOLOV5_OVERRIDES, **ext_defaults(), **user}


def strip_ext(args):
    """Copy of ``args`` (dict or namespace) without extension keys, for stock ultralytics components."""
    d = dict(vars(args)) if isinstance(args, SimpleNamespace) else dict(args)
    for k in ext_defaults():
        d.pop(k, None)
    return d


def hyp(args, key: str):
    """Value of an extension key from trainer args / model.args (a namespace or dict), falling back to the default."""
    if isinstance(args, dict):
        return args.get(key, ext_defaults()[key])
    return getattr(args, key, ext_defaults()[key])
