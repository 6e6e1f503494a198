"""--hyp with an unmodified YOLOv5 hyp file: recognised, translated to YOLOv5's exact meanings, same loss."""

from types import SimpleNamespace

import pytest
import torch
from ultralytics.cfg import get_cfg
from ultralytics.utils import DEFAULT_CFG

import yolo_ext  # noqa: F401
from yolo_ext.config.defaults import trainer_base_cfg
from yolo_ext.config.overrides import is_yolov5_hyp, load_hyp
from yolo_ext.config.validate import validate
from yolo_ext.criterion import YOLOv5Criterion
from yolo_ext.nn.head import AnchorDetect

from helpers import ROOT, overfit

# ultralytics/yolov5 data/hyps/hyp.scratch-low.yaml, values as released (v6.x / v7.0), comments dropped
YOLOV5_SCRATCH_LOW = """\
lr0: 0.01
lrf: 0.01
momentum: 0.937
weight_decay: 0.0005
warmup_epochs: 3.0
warmup_momentum: 0.8
warmup_bias_lr: 0.1
box: 0.05
cls: 0.5
cls_pw: 1.0
obj: 1.0
obj_pw: 1.0
iou_t: 0.20
anchor_t: 4.0
fl_gamma: 0.0
hsv_h: 0.015
hsv_s: 0.7
hsv_v: 0.4
degrees: 0.0
translate: 0.1
scale: 0.5
shear: 0.0
perspective: 0.0
flipud: 0.0
fliplr: 0.5
mosaic: 1.0
mixup: 0.0
copy_paste: 0.0
"""


def yolov5_file(tmp_path, **changes):
    text = YOLOV5_SCRATCH_LOW
    for k, v in changes.items():
        text = text.replace(f"{k}: ", f"{k}: {v} # was ") if f"\n{k}: " in "\n" + text else text + f"{k}: {v}\n"
    p = tmp_path / "hyp.yaml"
    p.write_text(text)
    return p


def test_unmodified_yolov5_file_is_accepted_and_reported(tmp_path):
    notes = []
    ov = load_hyp(yolov5_file(tmp_path, anchors=3), report=notes.append)
    for k in ("iou_t", "fl_gamma", "anchors", "cls_pw"):
        assert k not in ov  # get_cfg rejected the first three; cls_pw would mean class-frequency weighting
    assert ov["cls_pos_weight"] == 1.0 and ov["obj_pw"] == 1.0 and ov["lr0"] == 0.01
    text = "\n".join(notes)
    assert "iou_t=0.2: accepted and unused" in text and "anchors=3" in text and "cls_pw=1.0 -> cls_pos_weight" in text
    get_cfg(trainer_base_cfg(DEFAULT_CFG), validate(ov))  # ultralytics accepts every key
    assert not is_yolov5_hyp(load_hyp(ROOT / "data" / "hyps" / "hyp.scratch-low.yaml", report=None))


def test_ours_unchanged(tmp_path):
    ours = ROOT / "data" / "hyps" / "hyp.scratch-low.yaml"
    import yaml

    assert load_hyp(ours, report=None) == yaml.safe_load(ours.read_text())


def yolov5_focal(pred, true, pos_weight, gamma, alpha=0.25):
    """YOLOv5 utils/loss.py: FocalLoss(nn.BCEWithLogitsLoss(pos_weight), gamma, alpha), reduction 'mean'."""
    loss = torch.nn.functional.binary_cross_entropy_with_logits(pred, true, pos_weight=torch.tensor(pos_weight),
                                                                reduction="none")
    p = pred.sigmoid()
    p_t = true * p + (1 - true) * (1 - p)
    return (loss * (true * alpha + (1 - true) * (1 - alpha)) * (1 - p_t) ** gamma).mean()


def test_focal_translation_equals_yolov5_focal_loss(tmp_path):
    ov = validate(load_hyp(yolov5_file(tmp_path, fl_gamma=2.0, cls_pw=1.7, obj_pw=1.3), report=None))
    head = AnchorDetect(3, [[8, 8]], [4])
    head.stride = torch.tensor([8.0])
    args = SimpleNamespace(**{**trainer_base_cfg(DEFAULT_CFG), **ov, "imgsz": 16, "scale_gains": False})
    crit = YOLOv5Criterion(SimpleNamespace(args=args, model=[head]))
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(2, 1, 4, 4, generator=g) * 3, (torch.rand(2, 1, 4, 4, generator=g) > 0.7).float() * 0.8
    got = crit.objectness([(x, t, t > 0, None)])
    assert got.item() == pytest.approx(4.0 * yolov5_focal(x, t, 1.3, 2.0).item(), rel=1e-6)  # balance 4.0 (one level)
    logits, cls = torch.randn(5, 3, generator=g), torch.tensor([0, 2, 1, 1, 0])
    got = crit.classification(logits, cls, torch.ones(5))
    assert got.item() == pytest.approx(yolov5_focal(logits, torch.eye(3)[cls], 1.7, 2.0).item(), rel=1e-6)


def test_one_iteration_same_loss_as_our_settings(tmp_path):
    ov = validate(load_hyp(yolov5_file(tmp_path, fl_gamma=1.5, cls_pw=2.0, obj_pw=1.5, anchors=3), report=None))
    ours = dict(obj_loss="focal", cls_loss="focal", focal_gamma=1.5, obj_norm="mean", cls_norm="mean",
                cls_pos_weight=2.0, obj_pw=1.5)
    a = overfit(steps=1, nc=3, **ov)[2][0]
    b = overfit(steps=1, nc=3, **ours)[2][0]
    c = overfit(steps=1, nc=3)[2][0]  # plain BCE: differs, so the comparison can fail
    assert a == b and a["obj_loss"] != c["obj_loss"]
