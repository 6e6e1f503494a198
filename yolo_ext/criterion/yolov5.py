"""YOLOv5 ``ComputeLoss`` semantics as an ultralytics criterion, with pluggable assignment and losses.

YOLOv5 semantics (Jocher et al., ultralytics/yolov5 ``utils/loss.py`` and ``train.py``), the defaults:
- box: CIoU between the decoded positive prediction (grid units: ``xy = 2*sigmoid - 0.5`` relative to the assigned
  cell, ``wh = (2*sigmoid)^2 * anchor``) and the target (xy relative to the same cell, wh), ``mean(1 - CIoU)``;
- objectness target: ``(1 - gr) + gr * IoU.detach().clamp(0)`` at each positive cell, 0 elsewhere; where several
  positives hit one cell the largest target wins (YOLOv5 with ``sort_obj_iou``; deterministic); BCE averaged over
  every cell of a level, levels weighted by ``balance = [4.0, 1.0, 0.4]`` (optionally auto-balanced);
- class: BCE over positives x classes, label smoothing ``(1 - eps/2, eps/2)`` (``cls_label_smoothing``), only when
  ``nc > 1``;
- gains ``box``, ``obj``, ``cls`` scaled as YOLOv5's train.py does: ``box *= 3/nl``, ``cls *= nc/80 * 3/nl``,
  ``obj *= (imgsz/640)^2 * 3/nl``;
- returns ``(loss * batch_size, items)`` (ultralytics convention), items ``box_loss``, ``obj_loss``, ``cls_loss``.

Extensions (all hyperparameters, read once into ``CriterionConfig``, see ``config.py``):
- assignment by name (``assigner``); per-positive ``weight`` scales the box loss and the objectness target
  (``assign_weight_box`` / ``assign_weight_obj``); ``ignore`` removes negatives from the objectness loss; a
  prediction-aware assigner gets the detached decoded boxes and scores (``sigmoid(obj) * sigmoid(cls)``), computed
  once per batch; a positive's ``quality`` (soft target of ``tal`` / ``simota``) replaces ``(1 - gr) + gr * IoU`` as
  its objectness target and as the quality of soft class targets;
- assigner warm-up (``assigner_warmup`` for the first ``assigner_warmup_epochs`` epochs, then ``assigner``): the
  epoch is read from ``model.assign_epoch``, which the trainer sets at each epoch start (so ``--resume`` continues
  on the right one); without it (a criterion outside training) the main assigner runs;
- elementwise losses by name (``obj_loss``, ``cls_loss``: any key of ``yolo_ext.losses.LOSSES``). Losses whose spec
  has ``soft_targets`` (QFL, VFL) get IoU-quality class targets: the one-hot target times the positive's IoU (GFL);
  objectness targets are the target above for every loss;
- normalisation (``obj_norm`` / ``cls_norm``; ``auto`` = the spec's ``default_norm``): ``mean`` is YOLOv5's
  per-level mean with level balance; ``pos`` / ``target_sum`` / ``sum`` reduce all levels together (every cell
  weighs the same, so no level balance) and divide by positives / soft targets / 1, as GFL and VFL do. Their
  objectness scale differs from the mean's by about cells/positives, so the obj gain is multiplied by
  ``obj_norm_gain`` for those modes (see ``yolo_ext/config/defaults.py`` for the default and how it was chosen);
- OHEM (``ohem``): per image all positives and the hardest negatives at ``ohem_ratio`` (at least
  ``ohem_min_neg``), never ignored cells;
- epoch counters (``last_epoch_stats``, logged once an epoch): the assigner's (``positives``, ...) and the batches'
  ``targets`` (ground-truth boxes; a host int from the shape, no sync);
- loss balance (``balance.py``): the epoch's weighted box/obj ratio is logged and can steer the obj gain; the gain
  multiplier ``obj_gain_scale`` is read from the model's current args at every call.

Host syncs: none per batch in this module (counters stay tensors and are converted once an epoch in ``update()``);
OHEM has one (its top-k size), the assigner its own.
"""

from __future__ import annotations

import torch
from ultralytics.utils.metrics import bbox_iou

from ..assign import build_assigner
from ..losses import ohem_mask, reduce_loss
from ..ops import cell_key
from .balance import LossBalance
from .config import CriterionConfig, obj_gain_scale, scaled_gains

BALANCE = {3: [4.0, 1.0, 0.4]}  # per-level objectness weights (P3, P4, P5); other level counts below
BALANCE_OTHER = [4.0, 1.0, 0.25, 0.06, 0.02]


class YOLOv5Criterion:
    """Loss for ``AnchorDetectionModel``; built by ``model.init_criterion()`` from ``model.args``.

    ``model.args`` may be a namespace (trainer) or a dict (a model loaded from a checkpoint). The criterion keeps
    the model: ``obj_gain_scale`` is read from its *current* args at each call (see ``balance.py``).
    """

    loss_names = ("box_loss", "obj_loss", "cls_loss")

    def __init__(self, model):
        self.model = model
        self.config = cfg = CriterionConfig.from_args(model.args)
        head = model.model[-1]
        self.head = head
        self.nc, self.nl, self.na = head.nc, head.nl, head.na
        self.gains = scaled_gains(cfg, self.nl, self.nc)
        if cfg.obj_loss.norm != "mean":
            self.gains["obj"] *= cfg.obj_norm_gain
        self.assigner = build_assigner(cfg.assigner, **cfg.assigner_params)
        self.warmup_assigner = (build_assigner(cfg.assigner_warmup, **cfg.assigner_params)
                                if cfg.assigner_warmup and cfg.assigner_warmup_epochs > 0 else None)
        eps = cfg.cls_label_smoothing
        self.cp, self.cn = 1.0 - 0.5 * eps, 0.5 * eps
        self.obj_fn, self.cls_fn = cfg.obj_loss.build(), cfg.cls_loss.build()
        # level weights: python floats; with autobalance a float64 (nl,) tensor on the device after the first batch
        self.balance = list(BALANCE.get(self.nl, BALANCE_OTHER[: self.nl]))
        strides = head.stride.tolist()
        self.ssi = strides.index(16) if cfg.autobalance and 16 in strides else 0
        self.class_weights = getattr(model, "class_weights", None)
        self.monitor = LossBalance(cfg.balance)
        self.stats, self.epoch_stats, self.last_epoch_stats = {}, {}, {}

    # ---------------------------------------------------------------------------------------------------------
    def targets(self, batch: dict, device) -> torch.Tensor:
        """(n, 6) [image, class, x, y, w, h] normalised, from the ultralytics batch dict."""
        return torch.cat(
            (batch["batch_idx"].view(-1, 1), batch["cls"].view(-1, 1), batch["bboxes"].view(-1, 4)), 1
        ).to(device=device, dtype=torch.float32)

    def decoded(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        """Detached per-level predicted boxes (bs, na, ny, nx, 4) xywh in input pixels (for assigners)."""
        with torch.no_grad():
            return self.head.decode_boxes([m.detach() for m in maps])

    @staticmethod
    def scores(maps: list[torch.Tensor]) -> list[torch.Tensor]:
        """Detached per-level scores (bs, na, ny, nx, nc) ``sigmoid(obj) * sigmoid(cls)``, float32 (for assigners)."""
        with torch.no_grad():
            return [m[..., 4:5].detach().float().sigmoid() * m[..., 5:].detach().float().sigmoid() for m in maps]

    def current_assigner(self):
        """The warm-up assigner during its epochs (``model.assign_epoch < assigner_warmup_epochs``), else the main."""
        epoch = getattr(self.model, "assign_epoch", None)
        if self.warmup_assigner is not None and epoch is not None and epoch < self.config.assigner_warmup_epochs:
            return self.warmup_assigner
        return self.assigner

    @property
    def needs_preds(self) -> bool:
        """Whether the assigner of the current epoch reads the decoded predictions."""
        return bool(getattr(self.current_assigner(), "needs_preds", False))

    def assign(self, maps, targets, shapes, anchors, strides):
        """Run the current assigner; boxes and scores are computed once here, only when it reads them."""
        assigner = self.current_assigner()
        preds = self.decoded(maps) if getattr(assigner, "needs_preds", False) else None
        scores = self.scores(maps) if getattr(assigner, "needs_scores", False) else None
        return assigner(targets, anchors, strides, shapes, preds=preds, scores=scores, batch_size=maps[0].shape[0])

    def __call__(self, preds, batch: dict):
        """preds: head output (training dict or eval ``(y, dict)``), ``"preds"`` per level (bs, na, ny, nx, 5 + nc)
        logits; batch: ultralytics batch dict. Returns ``(loss (3,) * bs, {name: 0-d detached})``."""
        raw = preds[1] if isinstance(preds, tuple) else preds
        maps = raw["preds"]
        device = maps[0].device
        targets = self.targets(batch, device)
        shapes = [tuple(m.shape[2:4]) for m in maps]
        anchors = self.head.anchor_px.to(device)
        strides = self.head.stride.to(device)
        out = self.assign(maps, targets, shapes, anchors, strides)
        lbox = torch.zeros((), device=device)
        lcls = torch.zeros((), device=device)
        obj = []  # per level (logits, target, positive mask, ignore mask)
        for i, (p, lv) in enumerate(zip(maps, out.levels)):
            tobj = torch.zeros(p.shape[:4], device=device, dtype=torch.float32)
            pos = torch.zeros(p.shape[:4], device=device, dtype=torch.bool)
            if lv.b.shape[0]:
                box_i, cls_i = self.positives(p, lv, targets, anchors[i] / strides[i], shapes[i], tobj, pos)
                lbox, lcls = lbox + box_i, lcls + cls_i
            obj.append((p[..., 4].float(), tobj, pos, lv.ignore))
        lobj = self.objectness(obj)
        scale = obj_gain_scale(self.model.args)  # current value: adapt_obj_gain rewrites it once an epoch
        loss = torch.stack((lbox * self.gains["box"], lobj * self.gains["obj"] * scale, lcls * self.gains["cls"]))
        self.monitor.accumulate(loss.detach())
        self.count(getattr(out, "stats", None) or {}, targets=targets.shape[0])
        return loss * maps[0].shape[0], dict(zip(self.loss_names, loss.detach()))

    def positives(self, p, lv, targets, anchor_grid, shape, tobj, pos):
        """Box and class loss of one level's positives; writes their objectness targets into ``tobj``/``pos``.

        p: (bs, na, ny, nx, 5 + nc) logits; lv: the level's ``LevelTargets``; anchor_grid: (na, 2) in grid cells;
        tobj (float) / pos (bool): (bs, na, ny, nx), written in place.
        """
        ny, nx = shape
        ps = p[lv.b, lv.a, lv.gj, lv.gi].float()
        tg = targets[lv.t]
        gij = torch.stack((lv.gi, lv.gj), 1).float()
        to_grid = lambda xy: torch.stack((xy[:, 0] * nx, xy[:, 1] * ny), 1)  # noqa: E731 (no host->device copy)
        tbox = torch.cat((to_grid(tg[:, 2:4]) - gij, to_grid(tg[:, 4:6])), 1)
        pxy = ps[:, :2].sigmoid() * 2 - 0.5
        pwh = (ps[:, 2:4].sigmoid() * 2) ** 2 * anchor_grid[lv.a]
        iou = bbox_iou(torch.cat((pxy, pwh), 1), tbox, xywh=True, CIoU=True).squeeze(-1)
        w = lv.weight.to(iou.dtype)
        lbox = ((1.0 - iou) * (w if self.config.assign_weight_box else 1.0)).mean()
        q = iou.detach().clamp(0)
        if lv.quality is not None:  # the assigner's soft target (tal, simota)
            q = lv.quality.to(q.dtype)
            t_obj = q
        else:
            t_obj = (1.0 - self.config.gr) + self.config.gr * q
        if self.config.assign_weight_obj:
            t_obj = t_obj * w
        flat = cell_key(lv.b, lv.a, lv.gj, lv.gi, self.na, ny, nx)
        tobj.view(-1).scatter_reduce_(0, flat, t_obj, reduce="amax", include_self=True)
        pos.view(-1).index_fill_(0, flat, True)
        lcls = self.classification(ps[:, 5:], tg[:, 1].long(), q) if self.nc > 1 else torch.zeros((), device=p.device)
        return lbox, lcls

    def class_targets(self, logits: torch.Tensor, cls: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
        """(n, nc) class targets of n positives: smoothed one-hot ``(cp, cn)``, or for a loss with soft targets the
        one-hot times ``quality`` (n,) (the positive's IoU). ``cls``: (n,) int64 class indices."""
        if self.config.cls_loss.soft_targets:
            return torch.zeros_like(logits).scatter_(1, cls.view(-1, 1), quality.view(-1, 1).to(logits.dtype))
        return torch.full_like(logits, self.cn).scatter_(1, cls.view(-1, 1), self.cp)

    def classification(self, logits: torch.Tensor, cls: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
        """Class loss over positives x classes (logits (n, nc)), reduced by ``cls_norm``."""
        t = self.class_targets(logits, cls, quality)
        loss = self.cls_fn(logits, t)
        if self.class_weights is not None:
            loss = loss * self.class_weights.to(loss.device).view(1, -1)
        return reduce_loss(loss, self.config.cls_loss.norm, pos=len(cls), soft_target=t)

    def objectness(self, levels) -> torch.Tensor:
        """Objectness loss over all levels: per-level mean with balance, or one joint normalisation.

        levels: per level ``(logits, target, pos, ignore)``, each (bs, na, ny, nx); ``ignore`` bool or None.
        """
        logits, tobj, pos, ignore = zip(*levels)
        loss = [self.obj_fn(x, t) for x, t in zip(logits, tobj)]
        keep = [~ig.to(x.device) | ps if ig is not None else None for ig, ps, x in zip(ignore, pos, logits)]
        if self.config.ohem:
            ign = [~k if k is not None else torch.zeros_like(ps) for k, ps in zip(keep, pos)]
            cfg = self.config
            keep = ohem_mask([l.detach() for l in loss], list(pos), ign, cfg.ohem_ratio, cfg.ohem_min_neg)
        if self.config.obj_loss.norm == "mean":
            li = [reduce_loss(l, "mean", mask=k) for l, k in zip(loss, keep)]
            return self.autobalanced(li) if self.config.autobalance else self.balanced(li, self.balance)
        cat = lambda xs: torch.cat([x.reshape(x.shape[0], -1) for x in xs], 1)  # noqa: E731
        mask = cat([k if k is not None else torch.ones_like(ps) for k, ps in zip(keep, pos)])
        return reduce_loss(cat(loss), self.config.obj_loss.norm, mask=mask, pos=cat(pos), soft_target=cat(tobj))

    @staticmethod
    def balanced(li, weights) -> torch.Tensor:
        """sum_i li[i] * weights[i]: per-level 0-d losses, python floats or 0-d float32 tensors."""
        total = torch.zeros((), device=li[0].device)
        for l, w in zip(li, weights):
            total = total + l * w
        return total

    def autobalanced(self, li) -> torch.Tensor:
        """Balanced sum, then YOLOv5's per-batch autobalance ``balance_i = balance_i * 0.9999 + 0.0001 / li``,
        normalised by the stride-16 level: in float64 on the device (as YOLOv5's Python floats, with no host sync)."""
        bal = torch.as_tensor(self.balance, dtype=torch.float64, device=li[0].device)
        total = self.balanced(li, bal.float().unbind())
        with torch.no_grad():
            lv = torch.stack(li).double().clamp_min(1e-12)
            bal = bal * 0.9999 + torch.div(torch.full_like(lv, 0.0001), lv)  # a true division, as in YOLOv5
            self.balance = bal / bal[self.ssi]
        return total

    def count(self, stats: dict, targets: int | None = None) -> None:
        """Add one batch's assigner counters (numbers or 0-d tensors) to the epoch's, without a host sync.

        ``targets`` (the batch's number of ground-truth boxes, a host int from the tensor's shape) is counted as
        ``targets``, right after ``positives`` (so the epoch line reads ``positives=..., targets=..., ...`` and
        positives / targets is the epoch's positives per target)."""
        stats = dict(stats)
        if targets is not None:
            head = {"positives": stats.pop("positives")} if "positives" in stats else {}
            stats = {**head, "targets": int(targets), **stats}
        self.stats = stats
        for k, v in self.stats.items():
            self.epoch_stats[k] = self.epoch_stats.get(k, 0) + (v.detach() if torch.is_tensor(v) else v)

    def update(self):
        """Per-epoch hook called by the ultralytics trainer: assigner counters (one host sync) and the loss balance
        (which may rewrite ``obj_gain_scale`` in the model's args). Sets ``last_epoch_stats`` (floats)."""
        stats = dict(self.epoch_stats)
        tensors = [k for k, v in stats.items() if torch.is_tensor(v)]
        if tensors:
            dev = stats[tensors[0]].device
            stats.update(zip(tensors, torch.stack([stats[k].double().sum().to(dev) for k in tensors]).tolist()))
        stats = {k: float(v) for k, v in stats.items()}
        stats.update(self.monitor.end_epoch(self.model.args))
        self.last_epoch_stats, self.epoch_stats = stats, {}
