"""YOLOv5 ``ComputeLoss`` semantics as an ultralytics criterion, with pluggable assignment and losses.

YOLOv5 semantics (Jocher et al., ultralytics/yolov5 ``utils/loss.py`` and ``train.py``), the defaults:
- box: CIoU between the decoded positive prediction (grid units: ``xy = 2*sigmoid - 0.5`` relative to the assigned
  cell, ``wh = (2*sigmoid)^2 * anchor``) and the target (xy relative to the same cell, wh), ``mean(1 - CIoU)``;
- objectness target: ``(1 - gr) + gr * IoU.detach().clamp(0)`` at each positive cell, 0 elsewhere; where several
  positives hit one cell the largest target wins (YOLOv5 with ``sort_obj_iou``; deterministic); BCE averaged over
  every cell of a level, levels weighted by ``balance = [4.0, 1.0, 0.4]`` (optionally auto-balanced);
- class: BCE over positives x classes, label smoothing ``(1 - eps/2, eps/2)``, only when ``nc > 1``;
- gains ``box``, ``obj``, ``cls`` scaled as YOLOv5's train.py does: ``box *= 3/nl``, ``cls *= nc/80 * 3/nl``,
  ``obj *= (imgsz/640)^2 * 3/nl``;
- returns ``(loss * batch_size, items)`` (ultralytics convention), items ``box_loss``, ``obj_loss``, ``cls_loss``.

Extensions (all hyperparameters, see ``settings.py``):
- assignment by name (``assigner``); per-positive ``weight`` scales the box loss and the objectness target
  (``assign_weight_box`` / ``assign_weight_obj``); ``ignore`` removes negatives from the objectness loss;
- elementwise losses by name (``obj_loss``, ``cls_loss``: any key of ``yolo_ext.losses.LOSSES``). QFL/VFL (``soft_targets``) get
  soft targets: the objectness target above, and for classes the one-hot target times the positive's IoU (GFL);
- normalisation (``obj_norm`` / ``cls_norm``; ``auto`` = the loss's ``LossSpec.default_norm``): ``mean`` is YOLOv5's
  per-level mean with level balance; ``pos`` / ``target_sum`` / ``sum`` reduce all levels together (every cell
  weighs the same, so no level balance) and divide by positives / soft targets / 1, as GFL and VFL do. Their
  objectness scale differs from the mean's by about cells/positives, so the obj gain is multiplied by
  ``obj_norm_gain`` for those modes (see ``settings.py`` for the default and how it was chosen);
- OHEM (``ohem``): per image all positives and the hardest negatives at ``ohem_ratio`` (at least
  ``ohem_min_neg``), never ignored cells;
- loss balance (``yolo_ext.balance``): the epoch's weighted box/obj ratio is logged and can steer the obj gain.
"""

from __future__ import annotations

import torch
from ultralytics.utils.metrics import bbox_iou

from ..assign import ASSIGNER_PARAMS, build_assigner
from ..losses import LOSSES, NORM_MODES, get_loss, ohem_mask, reduce_loss
from ..config.defaults import hyp, loss_params
from .balance import LossBalance

BALANCE = {3: [4.0, 1.0, 0.4]}  # per-level objectness weights (P3, P4, P5); other level counts below
BALANCE_OTHER = [4.0, 1.0, 0.25, 0.06, 0.02]


def scaled_gains(args, nl: int, nc: int) -> dict:
    """box/obj/cls gains after YOLOv5 train.py's scaling by levels, classes and image size."""
    box, obj, cls = float(args.box), float(hyp(args, "obj")), float(args.cls)
    if hyp(args, "scale_gains"):
        imgsz = args.imgsz if isinstance(args.imgsz, (int, float)) else max(args.imgsz)
        box *= 3 / nl
        cls *= nc / 80 * 3 / nl
        obj *= (float(imgsz) / 640) ** 2 * 3 / nl
    return {"box": box, "obj": obj, "cls": cls}


def resolve_norm(mode: str, loss_name: str, key: str) -> str:
    mode = LOSSES[loss_name].default_norm if mode == "auto" else mode
    if mode not in NORM_MODES:
        raise ValueError(f"{key}={mode!r}: valid are auto, {', '.join(NORM_MODES)}")
    return mode


class YOLOv5Criterion:
    """Loss for ``AnchorDetectionModel``; built by ``model.init_criterion()`` from ``model.args``."""

    loss_names = ("box_loss", "obj_loss", "cls_loss")

    def __init__(self, model):
        args = model.args
        head = model.model[-1]
        self.head = head
        self.nc, self.nl, self.na = head.nc, head.nl, head.na
        self.gains = scaled_gains(args, self.nl, self.nc)
        self.assigner = build_assigner(hyp(args, "assigner"), **{k: hyp(args, k) for k in ASSIGNER_PARAMS})
        self.needs_preds = bool(getattr(self.assigner, "needs_preds", False))
        self.gr = float(hyp(args, "gr"))
        eps = float(hyp(args, "label_smoothing"))
        self.cp, self.cn = 1.0 - 0.5 * eps, 0.5 * eps
        self.obj_name, self.cls_name = hyp(args, "obj_loss"), hyp(args, "cls_loss")
        self.obj_fn = get_loss(self.obj_name, pos_weight=float(hyp(args, "obj_pw")), **loss_params(args, self.obj_name))
        self.cls_fn = get_loss(self.cls_name, pos_weight=float(hyp(args, "cls_pos_weight")), **loss_params(args, self.cls_name))
        self.obj_norm = resolve_norm(hyp(args, "obj_norm"), self.obj_name, "obj_norm")
        self.cls_norm = resolve_norm(hyp(args, "cls_norm"), self.cls_name, "cls_norm")
        if self.obj_norm != "mean":
            self.gains["obj"] *= float(hyp(args, "obj_norm_gain"))
        self.ohem = bool(hyp(args, "ohem"))
        self.ohem_ratio, self.ohem_min_neg = float(hyp(args, "ohem_ratio")), int(hyp(args, "ohem_min_neg"))
        self.weight_box = bool(hyp(args, "assign_weight_box"))
        self.weight_obj = bool(hyp(args, "assign_weight_obj"))
        self.autobalance = bool(hyp(args, "autobalance"))
        if self.autobalance and self.obj_norm != "mean":
            raise ValueError(f"autobalance adapts per-level means; it does not apply to obj_norm={self.obj_norm!r}")
        self.balance = list(BALANCE.get(self.nl, BALANCE_OTHER[: self.nl]))
        strides = head.stride.tolist()
        self.ssi = strides.index(16) if self.autobalance and 16 in strides else 0
        self.class_weights = getattr(model, "class_weights", None)
        self.monitor = LossBalance(args)
        self.stats, self.epoch_stats = {}, {}

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

    def __call__(self, preds, batch: dict):
        raw = preds[1] if isinstance(preds, tuple) else preds
        maps = raw["preds"]
        device = maps[0].device
        targets = self.targets(batch, device)
        shapes = [tuple(m.shape[2:4]) for m in maps]
        anchors = self.head.anchor_px.to(device)
        strides = self.head.stride.to(device)
        with torch.no_grad():
            out = self.assigner(targets, anchors, strides, shapes, preds=self.decoded(maps) if self.needs_preds else None)
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
        loss = torch.stack((lbox * self.gains["box"], lobj * self.gains["obj"] * self.monitor.scale, lcls * self.gains["cls"]))
        self.monitor.accumulate(loss.detach())
        self.stats = dict(getattr(out, "stats", {}) or {})
        for k, v in self.stats.items():
            self.epoch_stats[k] = self.epoch_stats.get(k, 0) + float(v)
        return loss * maps[0].shape[0], dict(zip(self.loss_names, loss.detach()))

    def positives(self, p, lv, targets, anchor_grid, shape, tobj, pos):
        """Box and class loss of one level's positives; writes their objectness targets into ``tobj``/``pos``."""
        ny, nx = shape
        ps = p[lv.b, lv.a, lv.gj, lv.gi].float()
        tg = targets[lv.t]
        scale = torch.tensor([nx, ny], device=p.device, dtype=torch.float32)
        tbox = torch.cat((tg[:, 2:4] * scale - torch.stack((lv.gi, lv.gj), 1).float(), tg[:, 4:6] * scale), 1)
        pxy = ps[:, :2].sigmoid() * 2 - 0.5
        pwh = (ps[:, 2:4].sigmoid() * 2) ** 2 * anchor_grid[lv.a]
        iou = bbox_iou(torch.cat((pxy, pwh), 1), tbox, xywh=True, CIoU=True).squeeze(-1)
        w = lv.weight.to(iou.dtype)
        lbox = ((1.0 - iou) * (w if self.weight_box else 1.0)).mean()
        q = iou.detach().clamp(0)
        t_obj = (1.0 - self.gr) + self.gr * q
        if self.weight_obj:
            t_obj = t_obj * w
        flat = ((lv.b * self.na + lv.a) * ny + lv.gj) * nx + lv.gi
        tobj.view(-1).scatter_reduce_(0, flat, t_obj, reduce="amax", include_self=True)
        pos.view(-1)[flat] = True
        lcls = self.classification(ps[:, 5:], tg[:, 1].long(), q) if self.nc > 1 else torch.zeros((), device=p.device)
        return lbox, lcls

    def classification(self, logits: torch.Tensor, cls: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
        """Class loss over positives x classes: smoothed one-hot targets (IoU-scaled for QFL/VFL)."""
        rows = torch.arange(len(cls), device=logits.device)
        if LOSSES[self.cls_name].soft_targets:
            t = torch.zeros_like(logits)
            t[rows, cls] = quality
        else:
            t = torch.full_like(logits, self.cn)
            t[rows, cls] = self.cp
        loss = self.cls_fn(logits, t)
        if self.class_weights is not None:
            loss = loss * self.class_weights.to(loss.device).view(1, -1)
        return reduce_loss(loss, self.cls_norm, pos=float(len(cls)), soft_target=t)

    def objectness(self, levels) -> torch.Tensor:
        """Objectness loss over all levels: per-level mean with balance, or one joint normalisation."""
        logits, tobj, pos, ignore = zip(*levels)
        loss = [self.obj_fn(x, t) for x, t in zip(logits, tobj)]
        keep = [~ig.to(x.device) | ps if ig is not None else None for ig, ps, x in zip(ignore, pos, logits)]
        if self.ohem:
            ign = [~k if k is not None else torch.zeros_like(ps) for k, ps in zip(keep, pos)]
            keep = ohem_mask([l.detach() for l in loss], list(pos), ign, self.ohem_ratio, self.ohem_min_neg)
        if self.obj_norm == "mean":
            total = torch.zeros((), device=logits[0].device)
            for i, (l, k) in enumerate(zip(loss, keep)):
                li = reduce_loss(l, "mean", mask=k)
                total = total + li * self.balance[i]
                if self.autobalance:
                    self.balance[i] = self.balance[i] * 0.9999 + 0.0001 / max(float(li.detach()), 1e-12)
            if self.autobalance:
                self.balance = [x / self.balance[self.ssi] for x in self.balance]
            return total
        cat = lambda xs: torch.cat([x.reshape(x.shape[0], -1) for x in xs], 1)  # noqa: E731
        mask = cat([k if k is not None else torch.ones_like(ps) for k, ps in zip(keep, pos)])
        return reduce_loss(cat(loss), self.obj_norm, mask=mask, pos=cat(pos), soft_target=cat(tobj))

    def update(self):
        """Per-epoch hook called by the ultralytics trainer: loss-balance bookkeeping and assigner counters."""
        self.epoch_stats.update(self.monitor.end_epoch())
        self.last_epoch_stats, self.epoch_stats = self.epoch_stats, {}
