"""YOLOv5 ``ComputeLoss`` semantics as an ultralytics criterion, with pluggable label assignment.

Semantics (Jocher et al., ultralytics/yolov5 ``utils/loss.py`` and ``train.py``):
- box: CIoU between the decoded positive prediction (grid units: ``xy = 2*sigmoid - 0.5`` relative to the assigned
  cell, ``wh = (2*sigmoid)^2 * anchor``) and the target (xy relative to the same cell, wh), ``mean(1 - CIoU)``;
- objectness target: ``(1 - gr) + gr * IoU.detach().clamp(0)`` at each positive cell, 0 elsewhere; BCE averaged over
  every cell of the level, levels weighted by ``balance = [4.0, 1.0, 0.4]`` (optionally auto-balanced);
  where several positives hit one cell the largest target wins (YOLOv5 with ``sort_obj_iou``; deterministic);
- class: BCE over positives with label smoothing ``(1 - eps/2, eps/2)``, only when ``nc > 1``;
- gains ``box``, ``obj``, ``cls`` scaled as YOLOv5's train.py does: ``box *= 3/nl``, ``cls *= nc/80 * 3/nl``,
  ``obj *= (imgsz/640)^2 * 3/nl``;
- returns ``(loss * batch_size, items)`` (ultralytics convention), items ``box_loss``, ``obj_loss``, ``cls_loss``.

Extensions: the assigner is chosen by name (``args.assigner``); its per-positive ``weight`` scales the box loss and
the objectness target (``assign_weight_box`` / ``assign_weight_obj``); its ``ignore`` mask removes negatives from
the objectness loss (numerator and denominator).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from ultralytics.utils.metrics import bbox_iou

from .settings import hyp

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


class YOLOv5Criterion:
    """Loss for ``AnchorDetectionModel``; built by ``model.init_criterion()`` from ``model.args``."""

    loss_names = ("box_loss", "obj_loss", "cls_loss")

    def __init__(self, model):
        from .assign import ASSIGNER_PARAMS, build_assigner

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
        self.obj_pw = float(hyp(args, "obj_pw"))
        self.cls_pw = float(hyp(args, "cls_pos_weight"))
        self.weight_box = bool(hyp(args, "assign_weight_box"))
        self.weight_obj = bool(hyp(args, "assign_weight_obj"))
        self.autobalance = bool(hyp(args, "autobalance"))
        self.balance = list(BALANCE.get(self.nl, BALANCE_OTHER[: self.nl]))
        self.ssi = head.stride.tolist().index(16) if self.autobalance and 16 in head.stride.tolist() else 0
        self.class_weights = getattr(model, "class_weights", None)
        self.stats = {}

    # ---------------------------------------------------------------------------------------------------------
    def targets(self, batch: dict, device) -> torch.Tensor:
        """(n, 6) [image, class, x, y, w, h] normalised, from the ultralytics batch dict."""
        return torch.cat(
            (batch["batch_idx"].view(-1, 1), batch["cls"].view(-1, 1), batch["bboxes"].view(-1, 4)), 1
        ).to(device=device, dtype=torch.float32)

    def decoded(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        """Detached per-level predicted boxes (bs, na, ny, nx, 4) xywh in input pixels (for assigners)."""
        grids = self.head._grids([m.shape[2:4] for m in maps], maps[0].device, torch.float32)
        with torch.no_grad():
            return [self.head.decode_level(m.detach().float(), i, *grids[i]) for i, m in enumerate(maps)]

    def __call__(self, preds, batch: dict):
        raw = preds[1] if isinstance(preds, tuple) else preds
        maps = raw["preds"]
        device = maps[0].device
        bs = maps[0].shape[0]
        targets = self.targets(batch, device)
        shapes = [tuple(m.shape[2:4]) for m in maps]
        anchors = self.head.anchor_px.to(device)
        strides = self.head.stride.to(device)
        with torch.no_grad():
            out = self.assigner(targets, anchors, strides, shapes, preds=self.decoded(maps) if self.needs_preds else None)
        self.stats = dict(getattr(out, "stats", {}) or {})
        lbox = torch.zeros((), device=device)
        lobj = torch.zeros((), device=device)
        lcls = torch.zeros((), device=device)
        for i, (p, lv) in enumerate(zip(maps, out.levels)):
            ny, nx = shapes[i]
            tobj = torch.zeros(p.shape[:4], device=device, dtype=torch.float32)
            n = lv.b.shape[0]
            if n:
                ps = p[lv.b, lv.a, lv.gj, lv.gi].float()
                tg = targets[lv.t]
                scale = torch.tensor([nx, ny], device=device, dtype=torch.float32)
                gxy, gwh = tg[:, 2:4] * scale, tg[:, 4:6] * scale
                tbox = torch.cat((gxy - torch.stack((lv.gi, lv.gj), 1).float(), gwh), 1)
                anchor = anchors[i][lv.a] / strides[i]
                pxy = ps[:, :2].sigmoid() * 2 - 0.5
                pwh = (ps[:, 2:4].sigmoid() * 2) ** 2 * anchor
                iou = bbox_iou(torch.cat((pxy, pwh), 1), tbox, xywh=True, CIoU=True).squeeze(-1)
                w = lv.weight.to(iou.dtype)
                lbox = lbox + ((1.0 - iou) * (w if self.weight_box else 1.0)).mean()
                t_iou = iou.detach().clamp(0)
                t_iou = (1.0 - self.gr) + self.gr * t_iou
                if self.weight_obj:
                    t_iou = t_iou * w
                flat = ((lv.b * self.na + lv.a) * ny + lv.gj) * nx + lv.gi
                tobj.view(-1).scatter_reduce_(0, flat, t_iou, reduce="amax", include_self=True)
                if self.nc > 1:
                    lcls = lcls + self.cls_loss(ps[:, 5:], tg[:, 1].long())
            obji = self.obj_loss(p[..., 4].float(), tobj, lv.ignore)
            lobj = lobj + obji * self.balance[i]
            if self.autobalance:
                self.balance[i] = self.balance[i] * 0.9999 + 0.0001 / max(float(obji.detach()), 1e-12)
        if self.autobalance:
            self.balance = [x / self.balance[self.ssi] for x in self.balance]
        loss = torch.stack((lbox * self.gains["box"], lobj * self.gains["obj"], lcls * self.gains["cls"]))
        return loss * bs, dict(zip(self.loss_names, loss.detach()))

    def obj_loss(self, logits: torch.Tensor, tobj: torch.Tensor, ignore) -> torch.Tensor:
        """Mean BCE over the level's cells, ignored negatives left out of numerator and denominator."""
        pw = torch.tensor(self.obj_pw, device=logits.device)
        loss = F.binary_cross_entropy_with_logits(logits, tobj, pos_weight=pw, reduction="none")
        if ignore is None:
            return loss.mean()
        keep = (~ignore.to(logits.device)) | (tobj > 0)
        return (loss * keep).sum() / keep.sum().clamp(min=1)

    def cls_loss(self, logits: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
        """Mean BCE over positives x classes with smoothed one-hot targets (and ultralytics class weights)."""
        t = torch.full_like(logits, self.cn)
        t[torch.arange(len(cls), device=logits.device), cls] = self.cp
        pw = torch.tensor(self.cls_pw, device=logits.device)
        loss = F.binary_cross_entropy_with_logits(logits, t, pos_weight=pw, reduction="none")
        if self.class_weights is not None:
            loss = loss * self.class_weights.to(loss.device).view(1, -1)
        return loss.mean()

    def update(self):
        """Per-epoch hook called by the ultralytics trainer (loss-balance adaptation lives here)."""
