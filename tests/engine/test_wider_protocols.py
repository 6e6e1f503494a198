"""WIDER FACE protocols of published tables, FLOPs in both conventions, YOLOv5's test-time augmentation."""

import pytest
import torch
from ultralytics.utils.torch_utils import scale_img

import yolo_ext  # noqa: F401
from yolo_ext.cli.val import val_parser, wider_settings
from yolo_ext.config.errors import ConfigError
from yolo_ext.engine import AnchorDetectionModel
from yolo_ext.engine.wider_protocols import PROTOCOLS, flops_conventions, tta_predict

from helpers import ROOT


def test_presets_and_their_sources():
    want = {"yolo5face": (640, 0.02, 0.5, False), "scrfd": (640, 0.02, 0.45, True), "retinaface": (0, 0.02, 0.4, False),
            "original": (0, 0.02, 0.45, False), "ours": (None, 0.01, 0.6, False)}
    assert {n: (p.imgsz, p.conf, p.iou, p.square) for n, p in PROTOCOLS.items()} == want
    assert all(len(p.source) > 10 for p in PROTOCOLS.values())


def test_val_flags_resolve_a_protocol():
    s = lambda *argv: wider_settings(val_parser().parse_args(["--weights", "w.pt", *argv]))  # noqa: E731
    assert s() == {"imgsz": 640, "conf": 0.01, "iou": 0.6, "square": False}  # today's default, unchanged
    assert s("--imgsz", "416", "--wider-imgsz", "0", "--iou-thres", "0.5") == {"imgsz": 0, "conf": 0.01, "iou": 0.5,
                                                                              "square": False}
    assert s("--wider-protocol", "scrfd") == {"imgsz": 640, "conf": 0.02, "iou": 0.45, "square": True}
    assert s("--wider-protocol", "retinaface", "--iou-thres", "0.7")["iou"] == 0.4  # the preset fixes the WIDER NMS
    with pytest.raises(ConfigError, match="--wider-conf.*scrfd"):
        s("--wider-protocol", "scrfd", "--wider-conf", "0.1")
    assert not val_parser().parse_args(["--weights", "w.pt"]).tta  # TTA off by default


def conv_macs(model, h, w):
    """Multiply-accumulates of every Conv2d of ``model`` on an (h, w) input, counted from the layer shapes."""
    total = []

    def hook(m, inp, out):
        total.append(out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(1, 3, h, w))
    for x in hs:
        x.remove()
    return sum(total)


def test_flops_both_conventions_counted_by_hand():
    m = AnchorDetectionModel(str(ROOT / "models" / "face-vgg-fpn-rep.yaml"), nc=1, verbose=False).eval()
    f = flops_conventions(m)
    fused = AnchorDetectionModel(str(ROOT / "models" / "face-vgg-fpn.yaml"), nc=1, verbose=False).eval()
    fused = fused.fuse(verbose=False)  # the deploy graph the rep model folds into
    assert f["gflops_2macs_640x640"] == pytest.approx(2 * conv_macs(fused, 640, 640) / 1e9, rel=2e-3)
    assert f["gmacs_640x480"] == pytest.approx(conv_macs(fused, 480, 640) / 1e9, rel=2e-3)
    assert 2.4 < f["gflops_2macs_640x640"] < 2.7  # README: 2.57 GFLOPs at 640 for the fused face model


def test_tta_is_yolov5s_three_passes_mapped_back():
    torch.manual_seed(0)
    m = AnchorDetectionModel(str(ROOT / "models" / "face-vgg-fpn-3a.yaml"), nc=1, verbose=False).eval()
    x = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        y = tta_predict(m, x)
        plain = m(x)[0]
        aug = m(x, augment=True)[0]  # the predict / val path
        flipped = m(scale_img(x.flip(3), 0.83, gs=32))  # ultralytics' (= YOLOv5's) resize + pad to the stride
    assert torch.equal(aug, y)
    na = m.model[-1].na
    p5 = na * (96 // 32) * (128 // 32)
    assert torch.allclose(y[..., : plain.shape[-1] - p5], plain[..., :-p5])  # scale 1: all but the coarsest level
    assert y.shape[-1] > plain.shape[-1]
    # the flipped 0.83 pass: x mirrored back and boxes de-scaled into the input frame
    n1 = plain.shape[-1] - p5
    fy = flipped[0]
    assert fy.shape[-1] <= y.shape[-1] - n1
    got = y[..., n1: n1 + 5]
    # first cells of the 0.83 pass (79x106 padded to 96x128): boxes de-scaled by 1/0.83 and x mirrored
    assert torch.allclose(got[:, 0], (128 - fy[:, 0, :5] / 0.83), atol=1e-3)
    assert torch.allclose(got[:, 1:4], fy[:, 1:4, :5] / 0.83, atol=1e-3)
    assert torch.allclose(got[:, 4], fy[:, 4, :5], atol=1e-6)


def test_upstream_private_details_tta_leans_on():
    """tta_predict calls ultralytics' DetectionModel._predict_once / _descale_pred (private): fail loudly if they move."""
    import inspect

    from ultralytics.nn.tasks import BaseModel, DetectionModel

    assert tuple(inspect.signature(DetectionModel._descale_pred).parameters) == ("p", "flips", "scale", "img_size", "dim")
    assert tuple(inspect.signature(BaseModel._predict_once).parameters)[:2] == ("self", "x")
    assert "self._predict_augment(x)" in inspect.getsource(BaseModel.predict)
