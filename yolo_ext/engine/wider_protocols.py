"""WIDER FACE test protocols of published tables, FLOPs in both conventions, and test-time augmentation.

Each preset reproduces how a published table was measured (test size, score threshold, NMS IoU), so that a model
measured here can be placed in that table (``val.py --wider-protocol NAME``):

=============  ==============================================  =========  =======  ==========================================
name           test size                                       conf       NMS IoU  source
=============  ==============================================  =========  =======  ==========================================
``yolo5face``  longest side 640 ("VGA", letterboxed)           0.02       0.5      YOLO5Face (Qi et al. 2021, arXiv:2105.12931),
                                                                                   deepcam-cn/yolov5-face ``test_widerface.py``
                                                                                   (``--img-size 640 --conf-thres 0.02
                                                                                   --iou-thres 0.5``)
``scrfd``      longest side 640, padded to 640x640             0.02       0.45     SCRFD (Guo et al. 2021, arXiv:2105.04714,
                                                                                   ICLR 2022): "evaluated on VGA resolution"
                                                                                   (insightface ``detection/scrfd``)
``retinaface`` original image size                             0.02       0.4      RetinaFace (Deng et al. 2020);
                                                                                   biubug6/Pytorch_Retinaface
                                                                                   ``test_widerface.py`` (``origin_size``,
                                                                                   ``confidence_threshold 0.02``,
                                                                                   ``nms_threshold 0.4``)
``original``   original image size                             0.02       0.45     YuNet (Wu et al. 2023, Machine
                                                                                   Intelligence Research) reports WIDER val
                                                                                   at the original size
``ours``       ``--imgsz`` (640), or ``--wider-imgsz``         0.01       0.6      this project's default (``val.py``)
=============  ==============================================  =========  =======  ==========================================

FLOPs conventions: YOLO papers (YOLOv5, YOLO5Face) count GFLOPs = 2 x multiply-accumulates at 640x640; SCRFD and
mmdetection-based face papers count MACs ("FLOPs") at 640x480 (VGA). Both are computed on the fused deploy graph.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from ultralytics.utils.torch_utils import scale_img


@dataclass(frozen=True)
class WiderProtocol:
    """A WIDER FACE test protocol: ``imgsz`` longest side (0: original size; None: val.py's ``--imgsz``),
    ``square`` pads to ``imgsz x imgsz`` instead of the stride-minimal letterbox, ``conf``, ``iou`` (NMS), ``source``."""

    name: str
    imgsz: int | None
    conf: float
    iou: float
    source: str
    square: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


PROTOCOLS = {p.name: p for p in (
    WiderProtocol("yolo5face", 640, 0.02, 0.5, "YOLO5Face (Qi et al. 2021), deepcam-cn/yolov5-face test_widerface.py"),
    WiderProtocol("scrfd", 640, 0.02, 0.45, "SCRFD (Guo et al. 2021), insightface detection/scrfd: VGA, 640x640",
                  square=True),
    WiderProtocol("retinaface", 0, 0.02, 0.4, "RetinaFace (Deng et al. 2020), biubug6/Pytorch_Retinaface "
                                              "test_widerface.py: original size"),
    WiderProtocol("original", 0, 0.02, 0.45, "YuNet (Wu et al. 2023): original size"),
    WiderProtocol("ours", None, 0.01, 0.6, "yolo-ext default (val.py --imgsz, --wider-conf 0.01, --iou-thres 0.6)"),
)}

# YOLOv5's test-time augmentation (Jocher et al., ultralytics/yolov5 models/yolo.py `_forward_augment`): scales and
# flips (None, or 3 = left-right on the width axis of NCHW), merged by the usual NMS.
TTA_SCALES = (1.0, 0.83, 0.67)
TTA_FLIPS = (None, 3, None)


def flops_conventions(model) -> dict:
    """``{"gflops_2macs_640x640": YOLO convention, "gmacs_640x480": SCRFD convention}`` of the fused deploy graph
    (``thop`` counts multiply-accumulates of convs / linear layers; ultralytics depends on it)."""
    import thop  # optional at import time: ultralytics installs it (`ultralytics-thop`) but guards its import too

    net = copy.deepcopy(model).float().eval()
    net = net.fuse(verbose=False) if hasattr(net, "fuse") else net
    p = next(net.parameters())
    out = {}
    for key, (h, w), mult in (("gflops_2macs_640x640", (640, 640), 2), ("gmacs_640x480", (480, 640), 1)):
        macs = thop.profile(net, inputs=[torch.zeros(1, 3, h, w, device=p.device)], verbose=False)[0]
        out[key] = round(mult * macs / 1e9, 4)
    return out


def tta_predict(model, x: torch.Tensor):
    """YOLOv5 TTA of an anchor model (``model``: AnchorDetectionModel, eval mode) on a batch ``x`` (B, 3, H, W):
    predictions at each scale / flip of ``TTA_SCALES`` / ``TTA_FLIPS`` mapped back to ``x``'s pixels and concatenated
    along the prediction axis, (B, 4 + nc, N_total); NMS merges them. As YOLOv5, the full-scale pass drops its coarsest
    level and the smallest-scale pass its finest (the "clipped tails": objects each scale sees worst)."""
    gs = int(model.stride.max())
    head = model.model[-1]
    outs = []
    for k, (s, f) in enumerate(zip(TTA_SCALES, TTA_FLIPS)):
        xi = scale_img(x.flip(f) if f else x, s, gs=gs)
        y = model._predict_once(xi)[0]
        y = model._descale_pred(y, f, s, x.shape[-2:])
        counts = [head.na * int(xi.shape[-2] // st) * int(xi.shape[-1] // st) for st in head.stride.tolist()]
        if k == 0:
            y = y[..., : sum(counts[:-1])]
        elif k == len(TTA_SCALES) - 1:
            y = y[..., counts[0]:]
        outs.append(y)
    return torch.cat(outs, -1)
