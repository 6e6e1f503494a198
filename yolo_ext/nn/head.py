"""Anchor-based YOLOv5 detection head as an ultralytics ``Detect`` subclass.

Decoding follows YOLOv5 v6 (Jocher et al., ultralytics/yolov5 ``models/yolo.py``):
``xy = (2 * sigmoid(t_xy) - 0.5 + grid) * stride`` and ``wh = (2 * sigmoid(t_wh))**2 * anchor``, with the anchors
given in input pixels. Output contract (DESIGN.md, "Seams"): training mode returns a dict with ``"feats"`` (the input
feature maps) and ``"preds"`` (per level raw maps ``(bs, na, ny, nx, 5 + nc)``); eval mode returns ``(y, raw)``;
export mode returns ``y`` alone, where ``y`` is ``(bs, 4 + nc, N)``: boxes xywh (or xyxy when the exporter sets
``xyxy``) in input pixels, and class scores ``sigmoid(obj) * sigmoid(cls)``. So the stock NMS, validator,
predictor and exporters work unchanged.

Training-only auxiliary head (``add_aux()``): a second set of 1x1 prediction convs on the same feature levels, with
the same anchors and decoding, trained with its own loss weight and, optionally, its own (more generous) assigner
(YOLOv7's auxiliary head, Wang et al. 2022, on the lead head's features). Its raw maps ride along as ``"aux"`` in the
training and eval outputs (so training and validation losses include it), never in export mode; ``drop_aux()``
(called by ``fuse()``) deletes it, leaving exactly the plain head's parameters.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from ultralytics.nn.modules.head import Detect
from ultralytics.utils import LOGGER


def parse_anchors(anchors, nl: int, source: str = "model YAML") -> torch.Tensor:
    """Validate YAML anchors (one flat ``[w1, h1, w2, h2, ...]`` list per level, input pixels) -> (nl, na, 2)."""
    if not isinstance(anchors, (list, tuple)) or not all(isinstance(a, (list, tuple)) for a in anchors):
        raise ValueError(f"{source}: 'anchors' must be a list with one [w1,h1, w2,h2, ...] list per level, got {anchors!r}")
    if len(anchors) != nl:
        raise ValueError(f"{source}: {len(anchors)} anchor levels given but the head takes {nl} feature levels")
    counts = {len(a) for a in anchors}
    if len(counts) != 1 or counts.pop() % 2 or not anchors[0]:
        raise ValueError(
            f"{source}: every anchor level needs the same even number of values (w,h pairs), got lengths "
            f"{[len(a) for a in anchors]}"
        )
    t = torch.tensor(anchors, dtype=torch.float32).view(nl, -1, 2)
    if not torch.isfinite(t).all() or (t <= 0).any():
        raise ValueError(f"{source}: anchor sizes must be positive finite numbers, got {anchors!r}")
    return t


class AnchorDetect(Detect):
    """YOLOv5 anchor head: one 1x1 conv per level predicting ``na * (5 + nc)`` channels.

    Args:
        nc (int): number of classes.
        anchors (list[list[float]]): per level ``[w1, h1, ...]`` in input pixels.
        ch (list[int]): input channels per level.

    Attributes:
        anchor_px (Tensor): (nl, na, 2) anchor sizes in input pixels (a buffer; not named ``anchors``, which is a
            ``Detect`` class attribute used by the anchor-free decoder).
        cv2 (nn.ModuleList): the per-level prediction convs (named like ``Detect.cv2`` for the exporters).
    """

    def __init__(self, nc: int = 80, anchors=(), ch=(), source: str = "model YAML"):
        nn.Module.__init__(self)
        self.nc = nc
        self.nl = len(ch)
        a = parse_anchors(anchors, self.nl, source)
        self.na = a.shape[1]
        self.no = nc + 5  # outputs per anchor: xywh, obj, classes
        self.reg_max = 1  # no DFL: keeps generic ultralytics code paths (exporters) on the plain-box branch
        self.stride = torch.zeros(self.nl)
        self.register_buffer("anchor_px", a)
        self.cv2 = nn.ModuleList(nn.Conv2d(c, self.na * self.no, 1) for c in ch)
        self.cv3 = None
        self.dfl = nn.Identity()
        self.aux = None  # training-only auxiliary convs (add_aux / drop_aux)
        self._grid_cache = None

    # ultralytics Detect API ------------------------------------------------------------------------------------
    @property
    def one2many(self):
        return {"box_head": self.cv2, "cls_head": None}

    @property
    def end2end(self):
        return False

    @end2end.setter
    def end2end(self, value):
        if value:
            LOGGER.warning("AnchorDetect has no one-to-one (NMS-free) branch; keeping NMS outputs.")

    def fuse(self):
        """Drop the training-only auxiliary head, if any (the lead head has a single branch)."""
        self.drop_aux()

    # training-only auxiliary head ----------------------------------------------------------------------------
    @property
    def has_aux(self) -> bool:
        return getattr(self, "aux", None) is not None  # checkpoints pickled before the attribute existed lack it

    def add_aux(self) -> bool:
        """Add the auxiliary 1x1 convs (one per level, like ``cv2``; YOLOv5 prior biases once strides are known).
        Returns True if added, False if already there."""
        if self.has_aux:
            return False
        p = self.cv2[0].weight
        self.aux = nn.ModuleList(nn.Conv2d(c.in_channels, self.na * self.no, 1) for c in self.cv2).to(p.device, p.dtype)
        if bool((self.stride > 0).all()):
            self._prior_biases(self.aux)
        return True

    def drop_aux(self) -> bool:
        """Delete the auxiliary head; True if there was one."""
        had = self.has_aux
        self.aux = None
        return had

    def raw_maps(self, x: list[torch.Tensor], convs=None) -> list[torch.Tensor]:
        """Per level raw predictions (bs, na, ny, nx, 5 + nc) (logits) of ``convs`` (default: the lead head)."""
        convs = self.cv2 if convs is None else convs
        out = []
        for i, xi in enumerate(x):
            bs, _, ny, nx = xi.shape
            out.append(convs[i](xi).view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous())
        return out

    def forward(self, x: list[torch.Tensor]):
        preds = {"feats": x, "preds": self.raw_maps(x)}
        if self.has_aux and not self.export:
            preds["aux"] = self.raw_maps(x, self.aux)
        if self.training:
            return preds
        y = self.decode(preds["preds"])
        return y if self.export else (y, preds)

    def _grids(self, shapes, device, dtype):
        """Per level (grid, anchor) tensors of shape (1, 1, ny, nx, 2) and (1, na, 1, 1, 2); cached per shape
        (rebuilt on every call while tracing for export, so dynamic-shape exports keep the grid in the graph)."""
        if torch.jit.is_tracing():
            return self._make_grids(shapes, device, dtype)
        key = (tuple((int(a), int(b)) for a, b in shapes), device, dtype)
        if self.dynamic or self._grid_cache is None or self._grid_cache[0] != key:
            self._grid_cache = (key, self._make_grids(shapes, device, dtype))
        return self._grid_cache[1]

    def _make_grids(self, shapes, device, dtype):
        grids = []
        for i, (ny, nx) in enumerate(shapes):
            yv, xv = torch.meshgrid(
                torch.arange(ny, device=device, dtype=dtype), torch.arange(nx, device=device, dtype=dtype), indexing="ij"
            )
            anchor = self.anchor_px[i].to(device, dtype).view(1, self.na, 1, 1, 2)
            grids.append((torch.stack((xv, yv), 2).view(1, 1, ny, nx, 2), anchor))
        return grids

    def decode_level(self, p: torch.Tensor, i: int, grid: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
        """Decode raw level map p (bs, na, ny, nx, no) -> (bs, na, ny, nx, 4) xywh in input pixels."""
        s = p[..., :4].sigmoid()
        xy = (s[..., :2] * 2 - 0.5 + grid) * self.stride[i]
        wh = (s[..., 2:4] * 2) ** 2 * anchor
        return torch.cat((xy, wh), -1)

    def decode_boxes(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per level decoded boxes (bs, na, ny, nx, 4) xywh in input pixels, float32, from raw level maps
        (bs, na, ny, nx, no) (what assigners take as ``preds``; the criterion passes detached maps)."""
        maps = [m.float() for m in maps]
        grids = self._grids([m.shape[2:4] for m in maps], maps[0].device, torch.float32)
        return [self.decode_level(m, i, *grids[i]) for i, m in enumerate(maps)]

    def decode(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """Raw level maps -> (bs, 4 + nc, N): boxes in input pixels and scores sigmoid(obj) * sigmoid(cls)."""
        grids = self._grids([m.shape[2:4] for m in maps], maps[0].device, maps[0].dtype)
        out = []
        for i, p in enumerate(maps):
            box = self.decode_level(p, i, *grids[i])
            if self.xyxy:
                box = torch.cat((box[..., :2] - box[..., 2:] / 2, box[..., :2] + box[..., 2:] / 2), -1)
            score = p[..., 4:5].sigmoid() * p[..., 5:].sigmoid()
            out.append(torch.cat((box, score), -1).view(p.shape[0], -1, 4 + self.nc))
        return torch.cat(out, 1).permute(0, 2, 1)

    def bias_init(self):
        """YOLOv5 prior biases (Jocher et al., ``_initialize_biases``; Lin et al. 2017 prior-probability init).

        objectness += log(8 / (640 / s)^2)  (about 8 objects per 640 image on each level);
        classes    += log(0.6 / (nc - 0.99999)).
        """
        self._prior_biases(self.cv2)
        if self.has_aux:
            self._prior_biases(self.aux)

    def _prior_biases(self, convs) -> None:
        for conv, s in zip(convs, self.stride):
            b = conv.bias.data.view(self.na, self.no)
            b[:, 4] += math.log(8 / (640 / float(s)) ** 2)
            b[:, 5:] += math.log(0.6 / (self.nc - 0.99999))

    def check_anchor_order(self) -> bool:
        """Reverse the anchor levels if their mean area runs against the strides (as YOLOv5's check_anchor_order).

        Returns True if the anchors were reordered (a warning is logged)."""
        area = self.anchor_px.prod(-1).mean(-1)
        da, ds = area[-1] - area[0], self.stride[-1] - self.stride[0]
        if da != 0 and ds != 0 and torch.sign(da) != torch.sign(ds):
            LOGGER.warning(
                f"AnchorDetect: anchor order {area.tolist()} (mean area per level) runs against strides "
                f"{self.stride.tolist()}; reversing the anchor levels."
            )
            self.anchor_px.copy_(self.anchor_px.flip(0))
            self._grid_cache = None
            return True
        return False
