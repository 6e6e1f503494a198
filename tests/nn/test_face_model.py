"""Face model: cost band, plain deploy graph, levels/anchors, RepVGG folding proven numerically, training, ONNX."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

import yolo_ext  # noqa: F401
from yolo_ext.anchors import adjacent_ratios
from yolo_ext.engine import AnchorDetectionModel
from yolo_ext.nn import MODULES, AnchorDetect, ConvReLU, RepConvReLU
from yolo_ext.config.paths import resolve_model_cfg
from yolo_ext.config.defaults import ext_defaults

from helpers import overfit_losses, randomise_bn

FACE = ("face-vgg-fpn.yaml", "face-vgg-fpn-rep.yaml", "face-vgg-fpn-3a.yaml")


def build(cfg, nc=1):
    torch.manual_seed(0)
    return AnchorDetectionModel(str(resolve_model_cfg(cfg)), nc=nc, verbose=False)


def eval_out(model, x):
    """(decoded y (B, 4 + nc, N), list of raw level maps) in eval mode."""
    with torch.no_grad():
        y, raw = model.eval()(x)
    return y, raw["preds"]


# ------------------------------------------------------------------------------------------------ architecture
@pytest.mark.parametrize("cfg", FACE)
def test_flops_at_224_in_band(cfg):
    from ultralytics.utils.torch_utils import get_flops

    m = build(cfg).fuse(verbose=False)
    gflops = get_flops(m, imgsz=224)  # 2 x MACs
    assert 0.8 * 0.30 <= gflops <= 1.2 * 0.30, gflops


@pytest.mark.parametrize("cfg", FACE)
def test_fused_graph_is_plain_3x3_convs(cfg):
    m = build(cfg).fuse(verbose=False)
    head = m.model[-1]
    head_convs = {id(c) for c in head.cv2}
    convs = [x for x in m.modules() if isinstance(x, nn.modules.conv._ConvNd)]
    assert len(convs) == 11 + 3
    for c in convs:
        assert type(c) is nn.Conv2d, type(c)  # no transposed / 1d / 3d convs
        assert c.groups == 1 and c.dilation == (1, 1), c
        assert c.kernel_size == ((1, 1) if id(c) in head_convs else (3, 3)), c
    allowed = (nn.Conv2d, nn.ReLU, nn.Upsample, nn.Identity, nn.Sequential, nn.ModuleList, ConvReLU, AnchorDetect,
               AnchorDetectionModel, type(m.model[10]))  # the last one is ultralytics Concat
    assert {type(x).__name__ for x in m.modules() if not isinstance(x, allowed)} == set()
    assert not any(isinstance(x, nn.BatchNorm2d) for x in m.modules())
    for u in (x for x in m.modules() if isinstance(x, nn.Upsample)):
        assert u.mode == "nearest" and u.scale_factor == 2


@pytest.mark.parametrize("cfg,na", [("face-vgg-fpn.yaml", 1), ("face-vgg-fpn-rep.yaml", 1), ("face-vgg-fpn-3a.yaml", 3)])
def test_three_levels_strides_and_anchors(cfg, na):
    m = build(cfg)
    head = m.model[-1]
    assert m.stride.tolist() == [8.0, 16.0, 32.0]
    assert (head.nl, head.na, head.nc) == (3, na, 1)
    want = torch.tensor(yaml.safe_load(resolve_model_cfg(cfg).read_text())["anchors"], dtype=torch.float32)
    assert torch.equal(head.anchor_px, want.view(3, na, 2))
    _, raw = eval_out(m, torch.rand(1, 3, 224, 224))
    assert [tuple(r.shape) for r in raw] == [(1, na, 28, 28, 6), (1, na, 14, 14, 6), (1, na, 7, 7, 6)]


def test_reference_anchors_spaced_by_anchor_t():
    a = build("face-vgg-fpn.yaml").model[-1].anchor_px
    assert a.view(-1).tolist() == [12, 15, 48, 60, 192, 240]
    assert (adjacent_ratios(a.numpy()) >= ext_defaults()["anchor_t"]).all()


def test_rep_yaml_is_plain_yaml_with_rep_blocks():
    plain = yaml.safe_load(resolve_model_cfg("face-vgg-fpn.yaml").read_text())
    rep = yaml.safe_load(resolve_model_cfg("face-vgg-fpn-rep.yaml").read_text())
    swap = lambda rows: [[f, n, "ConvReLU" if m == "RepConvReLU" else m, a] for f, n, m, a in rows]  # noqa: E731
    assert swap(rep["backbone"]) == plain["backbone"] and swap(rep["head"]) == plain["head"]
    assert {k: v for k, v in rep.items() if k not in ("backbone", "head")} == {
        k: v for k, v in plain.items() if k not in ("backbone", "head")}
    assert any(r[2] == "RepConvReLU" for r in rep["backbone"])


def test_blocks_registered_and_bad_args_rejected():
    assert MODULES["ConvReLU"] is ConvReLU and MODULES["RepConvReLU"] is RepConvReLU
    with pytest.raises(ValueError, match="kernel size must be 3"):
        RepConvReLU(8, 8, 5)
    with pytest.raises(ValueError, match="odd"):
        ConvReLU(8, 8, 2)


# ------------------------------------------------------------------------------------------ re-parameterisation
def reference_rep_forward(b: RepConvReLU, x):
    """Slow, obviously correct three-branch forward, straight from the block's parameters (eval-mode BN)."""
    def bn(y, m):
        return F.batch_norm(y, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, m.eps)

    s = b.conv.stride
    y = bn(F.conv2d(x, b.conv.weight, None, s, 1), b.bn) + bn(F.conv2d(x, b.conv1x1.weight, None, s, 0), b.bn1x1)
    if b.conv.in_channels == b.conv.out_channels and s == (1, 1):
        y = y + bn(x, b.bn_id)
    return y.clamp(min=0)


@pytest.mark.parametrize("c1,c2,s", [(8, 8, 1), (8, 16, 1), (16, 8, 2), (8, 8, 2), (3, 16, 2)])
def test_rep_block_folds_exactly(c1, c2, s):
    torch.manual_seed(1)
    b = randomise_bn(RepConvReLU(c1, c2, 3, s)).eval()
    assert (b.bn_id is not None) == (c1 == c2 and s == 1)
    x = torch.randn(2, c1, 13, 12)
    with torch.no_grad():
        y0 = b(x)
        torch.testing.assert_close(y0, reference_rep_forward(b, x), atol=1e-5, rtol=1e-5)
        assert b.reparameterize() is True
        y1 = b(x)
        assert b.reparameterize() is False  # twice is harmless
        y2 = b(x)
    assert y0.shape == (2, c2, -(-13 // s), -(-12 // s))
    torch.testing.assert_close(y1, y0, atol=1e-4, rtol=1e-4)
    assert torch.equal(y1, y2)
    plain = ConvReLU(c1, c2, 3, s).eval()
    assert {k: v.shape for k, v in b.state_dict().items()} == {k: v.shape for k, v in plain.state_dict().items()}
    plain.load_state_dict(b.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(plain(x), y0, atol=1e-4, rtol=1e-4)


def test_rep_block_stock_fuse_first_then_reparameterize():
    """Stock Conv+BN fusion before reparameterize() still gives the same function (both orders are safe)."""
    from ultralytics.utils.torch_utils import fuse_conv_and_bn

    b = randomise_bn(RepConvReLU(8, 8, 3, 1), seed=3).eval()
    x = torch.randn(1, 8, 9, 9)
    with torch.no_grad():
        y0 = b(x)
        b.conv = fuse_conv_and_bn(b.conv, b.bn)
        delattr(b, "bn")
        b.forward = b.forward_fuse
        torch.testing.assert_close(b(x), y0, atol=1e-4, rtol=1e-4)
        assert b.reparameterize() is True and b.conv1x1 is None
        torch.testing.assert_close(b(x), y0, atol=1e-4, rtol=1e-4)


def test_rep_model_fuses_into_the_plain_model():
    rep = randomise_bn(build("face-vgg-fpn-rep.yaml"), seed=5)
    x = torch.rand(2, 3, 96, 128)
    y0, raw0 = eval_out(rep, x)
    n_rep = sum(isinstance(m, RepConvReLU) for m in rep.modules())
    assert rep.reparameterize() == n_rep == 11
    sd = {k: v.clone() for k, v in rep.state_dict().items()}
    plain = build("face-vgg-fpn.yaml")
    assert {k: v.shape for k, v in sd.items()} == {k: v.shape for k, v in plain.state_dict().items()}
    plain.load_state_dict(sd)  # strict: a re-parameterised checkpoint is a plain-YAML checkpoint
    y1, raw1 = eval_out(plain, x)
    for a, b in zip(raw1, raw0):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(y1, y0, atol=1e-3, rtol=1e-4)  # boxes in pixels

    rep.fuse(verbose=False)
    y2, raw2 = eval_out(rep, x)
    rep.fuse(verbose=False)  # fusing twice is harmless
    y3, _ = eval_out(rep, x)
    assert torch.equal(y2, y3)
    for a, b in zip(raw2, raw0):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    plain.fuse(verbose=False)
    assert {k: v.shape for k, v in rep.state_dict().items()} == {k: v.shape for k, v in plain.state_dict().items()}
    assert [type(m).__name__ for m in rep.modules() if not list(m.children())] == [
        type(m).__name__ for m in plain.modules() if not list(m.children())]


def test_reparameterised_checkpoint_loads_into_plain_yaml_via_load():
    rep = randomise_bn(build("face-vgg-fpn-rep.yaml"), seed=7)
    rep.reparameterize()
    x = torch.rand(1, 3, 64, 64)
    y0, _ = eval_out(rep, x)
    plain = build("face-vgg-fpn.yaml")
    plain.load({"model": rep, "ema": None}, verbose=False)
    torch.testing.assert_close(eval_out(plain, x)[0], y0, atol=1e-4, rtol=1e-5)


# ----------------------------------------------------------------------------------------------- train + export
@pytest.mark.parametrize("cfg", FACE)
def test_a_few_iterations_lower_the_loss(cfg):
    losses = overfit_losses(cfg, steps=12, imgsz=64)
    assert np.isfinite(losses).all() and losses[-1] < 0.9 * losses[0], losses


def onnx_ops(model, tmp_path, name, imgsz=64):
    import onnx
    from ultralytics.utils.export.engine import torch2onnx

    model.eval().model[-1].export = True
    f = torch2onnx(model, torch.rand(1, 3, imgsz, imgsz), str(tmp_path / f"{name}.onnx"))
    model.model[-1].export = False
    return [n.op_type for n in onnx.load(f).graph.node]


def test_fused_rep_onnx_graph_is_the_plain_graph(tmp_path):
    """Deployment never sees the branches: same ONNX op sequence as the plain model (no leftover Add etc.)."""
    rep_ops = onnx_ops(randomise_bn(build("face-vgg-fpn-rep.yaml")).fuse(verbose=False), tmp_path, "rep")
    plain_ops = onnx_ops(randomise_bn(build("face-vgg-fpn.yaml")).fuse(verbose=False), tmp_path, "plain")
    assert rep_ops == plain_ops and rep_ops.count("Conv") == 14
    assert onnx_ops(build("face-vgg-fpn-rep.yaml"), tmp_path, "unfused").count("Conv") == 14 + 11  # 1x1 branches


@pytest.mark.slow
def test_onnx_export_of_fused_rep_model_matches_pytorch(tmp_path):
    import onnx
    import onnxruntime as ort

    rep = randomise_bn(build("face-vgg-fpn-rep.yaml"), seed=9)
    ckpt = tmp_path / "face-rep.pt"
    torch.save({"model": rep.half(), "train_args": {}, "epoch": -1}, ckpt)  # as ultralytics saves checkpoints
    from yolo_ext.engine import AnchorYOLO

    f = AnchorYOLO(str(ckpt)).export(format="onnx", imgsz=96, device="cpu", simplify=False)
    graph = onnx.load(f).graph
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert len(convs) == 14 and not [n for n in graph.node if n.op_type == "ConvTranspose"]
    for n in convs:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        assert attrs.get("group", 1) == 1 and list(attrs["kernel_shape"]) in ([3, 3], [1, 1])
    assert sum(list(onnx.helper.get_attribute_value(a)) == [3, 3] for n in convs for a in n.attribute
               if a.name == "kernel_shape") == 11
    x = torch.rand(1, 3, 96, 96)
    net = AnchorYOLO(str(ckpt)).model.float().fuse(verbose=False).eval()
    with torch.no_grad():
        ref = net(x)[0].numpy()
    sess = ort.InferenceSession(str(f), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    assert got.shape == ref.shape == (1, 5, 12 * 12 + 6 * 6 + 3 * 3)
    np.testing.assert_allclose(got, ref, atol=1e-3, rtol=1e-4)
