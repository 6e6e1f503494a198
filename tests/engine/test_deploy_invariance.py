"""The deploy graph never changes: the face model trained with every training-time trick on (RepVGG branches, cutout,
square crop, label smoothing, the auxiliary head with its own assigner) exports exactly the plain face-vgg-fpn.yaml
graph: the same ONNX op sequence, the same parameters (names and shapes), outputs equal to the fused PyTorch model, and
a fused state dict that loads strictly into the plain YAML."""

import csv

import numpy as np
import pytest
import torch

import yolo_ext  # noqa: F401
from yolo_ext.config.paths import resolve_model_cfg
from yolo_ext.engine import AnchorDetectionModel, AnchorYOLO
from yolo_ext.engine.trainer import AnchorTrainer

from helpers import make_tiny_dataset, randomise_bn

IMGSZ = 64
EVERY_TRICK = dict(cutout=1.0, cutout_holes=2, cutout_scale=[0.02, 0.1], square_crop=0.5, square_crop_scale=[0.3, 2.0],
                   label_smoothing=0.1, aux_head=True, aux_weight=0.25, aux_assigner="radius", mosaic=0.5)


def onnx_graph(path):
    import onnx

    g = onnx.load(str(path)).graph
    return [n.op_type for n in g.node], {i.name: tuple(i.dims) for i in g.initializer}


def export(weights):
    return AnchorYOLO(str(weights)).export(format="onnx", imgsz=IMGSZ, device="cpu", simplify=False)


@pytest.fixture(scope="module")
def tricked(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    data = make_tiny_dataset(root / "data", n_train=8, n_val=4, size=96)
    t = AnchorTrainer(overrides=dict(
        model=str(resolve_model_cfg("face-vgg-fpn-rep.yaml")), data=str(data), epochs=1, batch=4, imgsz=IMGSZ,
        device="cpu", project=str(root / "runs"), name="tricks", exist_ok=True, workers=0, plots=False, seed=0,
        **EVERY_TRICK))
    t.train()
    return t


@pytest.mark.slow
def test_every_trick_trains_and_logs_aux_loss(tricked):
    with open(tricked.save_dir / "results.csv") as f:
        rows = list(csv.DictReader(f))
    row = {k.strip(): v for k, v in rows[-1].items()}
    assert float(row["train/aux_loss"]) > 0 and float(row["val/aux_loss"]) > 0
    ckpt = torch.load(tricked.best, map_location="cpu", weights_only=False)  # the training graph, as saved
    assert ckpt["train_args"]["cutout"] == 1.0 and ckpt["train_args"]["aux_head"] is True
    assert ckpt["train_args"]["cls_label_smoothing"] == 0.1 and ckpt["train_args"]["square_crop_scale"] == [0.3, 2.0]
    head = ckpt["model"].model[-1]
    assert head.has_aux and any(hasattr(m, "conv1x1") and m.conv1x1 is not None for m in ckpt["model"].modules())


@pytest.mark.slow
def test_exported_graph_is_the_plain_face_model(tricked, tmp_path):
    plain = randomise_bn(AnchorDetectionModel(str(resolve_model_cfg("face-vgg-fpn.yaml")), nc=1, verbose=False))
    plain_pt = tmp_path / "plain.pt"
    torch.save({"model": plain.half(), "train_args": {}, "epoch": -1}, plain_pt)  # as ultralytics saves checkpoints
    f = export(tricked.best)
    ops, params = onnx_graph(f)
    plain_ops, plain_params = onnx_graph(export(plain_pt))
    assert ops == plain_ops and ops.count("Conv") == 14
    assert params == plain_params

    # the fused trained model's outputs equal ONNX Runtime's on the exported file
    import onnxruntime as ort

    net = AnchorYOLO(str(tricked.best)).model.float().fuse(verbose=False).eval()
    x = torch.rand(2, 3, IMGSZ, IMGSZ, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = net(x)[0].numpy()
    sess = ort.InferenceSession(str(f), providers=["CPUExecutionProvider"])
    got = np.concatenate([sess.run(None, {sess.get_inputs()[0].name: x[i:i + 1].numpy()})[0] for i in range(2)])
    assert got.shape == ref.shape == (2, 5, 8 * 8 + 4 * 4 + 2 * 2)
    np.testing.assert_allclose(got, ref, atol=1e-3, rtol=1e-4)


@pytest.mark.slow
def test_fused_state_dict_is_a_plain_yaml_state_dict(tricked):
    net = AnchorYOLO(str(tricked.best)).model.float().eval()
    x = torch.rand(1, 3, IMGSZ, IMGSZ)
    with torch.no_grad():
        y_train_graph = net(x)[0]
    net.fuse(verbose=False)
    plain = AnchorDetectionModel(str(resolve_model_cfg("face-vgg-fpn.yaml")), nc=1, verbose=False).eval()
    plain.fuse(verbose=False)
    sd = net.state_dict()
    assert {k: v.shape for k, v in sd.items()} == {k: v.shape for k, v in plain.state_dict().items()}
    plain.load_state_dict(sd)  # strict
    with torch.no_grad():
        torch.testing.assert_close(plain(x)[0], y_train_graph, atol=1e-3, rtol=1e-4)
