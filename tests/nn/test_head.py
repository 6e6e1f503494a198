"""AnchorDetect: shapes, decode on a hand case, bias init values, anchor reorder, YAML errors."""

import math

import pytest
import torch

import yolo_ext  # noqa: F401
from yolo_ext.engine import AnchorDetectionModel
from yolo_ext.nn.head import AnchorDetect


def make_head(anchors=((10, 13, 16, 30), (30, 61, 62, 45)), nc=2, ch=(4, 8), strides=(8.0, 16.0)):
    h = AnchorDetect(nc, [list(a) for a in anchors], list(ch))
    h.stride = torch.tensor(strides)
    return h


def test_output_shapes_train_eval_export():
    h = make_head()
    x = [torch.randn(2, 4, 6, 5), torch.randn(2, 8, 3, 3)]
    out = h(x)
    assert [p.shape for p in out["preds"]] == [(2, 2, 6, 5, 7), (2, 2, 3, 3, 7)]
    assert out["feats"] is x
    h.eval()
    y, raw = h(x)
    assert y.shape == (2, 4 + 2, 2 * 6 * 5 + 2 * 3 * 3)
    h.export = True
    assert torch.equal(h(x), y)


def test_decode_hand_case():
    """One cell with logits 0 everywhere: sigmoid = 0.5 -> xy = (1 - 0.5 + grid) * stride, wh = 1^2 * anchor."""
    h = make_head(anchors=((10, 20),), nc=1, ch=(3,), strides=(8.0,))
    p = torch.zeros(1, 1, 2, 3, 6)  # (bs, na, ny, nx, 5 + nc)
    p[0, 0, 1, 2, 4] = math.log(3)  # obj sigmoid = 0.75
    y = h.decode([p])  # (1, 5, 6)
    # cell (gy=1, gx=2) is index 1 * 3 + 2 = 5
    assert torch.allclose(y[0, :4, 5], torch.tensor([(0.5 + 2) * 8, (0.5 + 1) * 8, 10.0, 20.0]))
    assert torch.allclose(y[0, 4, 5], torch.tensor(0.75 * 0.5))
    assert torch.allclose(y[0, 4, 0], torch.tensor(0.25))
    h.xyxy = True
    y2 = h.decode([p])
    assert torch.allclose(y2[0, :4, 5], torch.tensor([20 - 5.0, 12 - 10.0, 20 + 5.0, 12 + 10.0]))


def test_bias_init_values():
    h = make_head(nc=3)
    before = [c.bias.detach().clone().view(h.na, h.no) for c in h.cv2]
    h.bias_init()
    for conv, b0, s in zip(h.cv2, before, h.stride):
        b = conv.bias.detach().view(h.na, h.no)
        assert torch.allclose(b[:, 4] - b0[:, 4], torch.tensor(math.log(8 / (640 / float(s)) ** 2)))
        assert torch.allclose(b[:, 5:] - b0[:, 5:], torch.tensor(math.log(0.6 / (3 - 0.99999))))
        assert torch.equal(b[:, :4], b0[:, :4])


def test_anchor_reorder_warns_and_flips():
    h = make_head(anchors=((116, 90, 156, 198), (10, 13, 16, 30)))
    assert h.check_anchor_order()
    assert h.anchor_px[0].tolist() == [[10, 13], [16, 30]]
    assert not h.check_anchor_order()


@pytest.mark.parametrize(
    "anchors, msg",
    [([[10, 13, 16, 30]], "anchor levels"), ([[10, 13], [1, 2, 3]], "same even number"), ([[10, -13], [1, 2]], "positive")],
)
def test_bad_anchors_name_the_yaml(anchors, msg):
    with pytest.raises(ValueError, match=msg) as e:
        AnchorDetect(1, anchors, [4, 8], source="my.yaml")
    assert "my.yaml" in str(e.value)


def test_yaml_anchor_count_error_names_file(tmp_path):
    from yolo_ext.config.paths import MODELS

    txt = (MODELS / "yolov5n.yaml").read_text().replace("  - [116, 90, 156, 198, 373, 326] # P5/32\n", "")
    p = tmp_path / "broken.yaml"
    p.write_text(txt)
    with pytest.raises(ValueError, match="broken.yaml"):
        AnchorDetectionModel(str(p), nc=1, verbose=False)


@pytest.mark.parametrize("cfg, na", [("yolov5n.yaml", 3), ("yolov5n-1a.yaml", 1), ("yolov5s.yaml", 3), ("yolov5s-1a.yaml", 1)])
def test_model_yamls_build(cfg, na):
    from yolo_ext.config.paths import resolve_model_cfg

    m = AnchorDetectionModel(str(resolve_model_cfg(cfg)), nc=1, verbose=False)
    assert m.stride.tolist() == [8.0, 16.0, 32.0]
    assert m.head.na == na
    m.eval()
    y, _ = m(torch.zeros(1, 3, 64, 96))
    assert y.shape == (1, 5, na * (8 * 12 + 4 * 6 + 2 * 3))
