"""YOLOv5 checkpoints: read without YOLOv5's code, mapped name by name, same outputs as YOLOv5's own head."""

import sys

import pytest
import torch

from yolo_ext import AnchorDetectionModel, AnchorYOLO
from yolo_ext.engine.yolov5_ckpt import YOLOv5CheckpointError, convert_yolov5, is_yolov5_checkpoint
from yolo_ext.engine.yolov5_pickle import module_state_dict, restricted_load
from yolov5_fixture import randomise, write_yolov5_checkpoint, yolov5_detect_reference

from helpers import ROOT


@pytest.fixture(scope="module")
def v5(tmp_path_factory):
    """(source model, path of its YOLOv5-format checkpoint) for yolov5n with 3 classes."""
    d = tmp_path_factory.mktemp("v5")
    src = randomise(AnchorDetectionModel(str(ROOT / "models" / "yolov5n.yaml"), nc=3, verbose=False)).eval()
    return src, write_yolov5_checkpoint(src, d / "yolov5n.pt", d / "pkg")


def test_plain_torch_load_needs_yolov5_code(v5):
    """The trap: the file names YOLOv5's classes, which are not importable here (the stand-in package is gone)."""
    assert "models.yolo" not in sys.modules
    with pytest.raises(ModuleNotFoundError, match="models"):
        torch.load(v5[1], weights_only=False)


def test_restricted_load_recovers_every_tensor_without_yolov5(v5):
    src, path = v5
    assert is_yolov5_checkpoint(path) and not is_yolov5_checkpoint(ROOT / "models" / "yolov5n.yaml")
    ckpt = restricted_load(path)
    assert "models.yolo" not in sys.modules and "models.common" not in sys.modules  # nothing was imported
    sd = module_state_dict(ckpt["ema"])
    assert len(sd) == len(src.state_dict()) == 349
    assert "model.24.m.0.weight" in sd and "model.24.anchors" in sd and "model.24.cv2.0.weight" not in sd
    assert torch.equal(sd["model.24.anchors"].float() * torch.tensor([8.0, 16, 32]).view(-1, 1, 1), src.head.anchor_px)
    assert torch.equal(sd["model.3.conv.weight"].float(), src.state_dict()["model.3.conv.weight"])


def test_converted_outputs_equal_yolov5_head_on_source_tensors(v5):
    """Converted model vs YOLOv5's Detect formula evaluated on the source checkpoint's own head tensors (m.*, grid-unit
    anchors) over the same backbone features: boxes and scores equal."""
    src, path = v5
    model, info = convert_yolov5(path)
    assert info["size"] == "n" and info["nc"] == 3 and info["cfg"].endswith("yolov5n.yaml") and info["tensors"] == 349
    x = torch.rand(2, 3, 128, 96, generator=torch.Generator().manual_seed(1))
    feats = []
    h = src.head.register_forward_pre_hook(lambda m, a: feats.append([t.clone() for t in a[0]]))
    with torch.no_grad():
        src(x)
        h.remove()
        y = model(x)[0]
    sd = module_state_dict(restricted_load(path)["ema"])
    boxes, scores = yolov5_detect_reference(feats[0], sd)
    assert torch.allclose(y[:, :4].transpose(1, 2), boxes, rtol=1e-4, atol=1e-3)
    assert torch.allclose(y[:, 4:].transpose(1, 2), scores, rtol=1e-4, atol=1e-6)
    assert model.names == {0: "class0", 1: "class1", 2: "class2"}


def test_convert_cli_and_direct_loading(v5, tmp_path):
    from yolo_ext.cli.convert import main

    src, path = v5
    out = tmp_path / "ours.pt"
    assert main(["yolov5", str(path), str(out)]) == 0
    ours = AnchorYOLO(str(out)).model
    direct = AnchorYOLO(str(path)).model  # accepted as it is: converted in memory
    for m in (ours, direct):
        assert isinstance(m, AnchorDetectionModel)
        for k, v in src.state_dict().items():
            assert torch.allclose(m.state_dict()[k].float(), v.float()), k


def test_cfg_check_names_the_difference(v5, tmp_path):
    with pytest.raises(YOLOv5CheckpointError, match="width_multiple"):
        convert_yolov5(v5[1], cfg=ROOT / "models" / "yolov5s.yaml")
    with pytest.raises(YOLOv5CheckpointError, match="anchors per level"):
        convert_yolov5(v5[1], cfg=ROOT / "models" / "yolov5n-1a.yaml")


def test_load_refuses_when_the_head_did_not_load(v5):
    """The trap: matching by name and shape loaded 342/349 YOLOv5 tensors and left the head at random init."""
    src, _ = v5
    sd = {k.replace("model.24.cv2.", "model.24.m."): v for k, v in src.state_dict().items()}
    sd.pop("model.24.anchor_px")
    target = AnchorDetectionModel(str(ROOT / "models" / "yolov5n.yaml"), nc=3, verbose=False)
    with pytest.raises(ValueError, match=r"342/349.*head.*model.24.cv2.0.weight.*backbone"):
        target.load(sd)
    n = target.load(sd, backbone_only=True)
    assert n == 342 and torch.equal(target.state_dict()["model.3.conv.weight"], src.state_dict()["model.3.conv.weight"])
    full = AnchorDetectionModel(str(ROOT / "models" / "yolov5n.yaml"), nc=3, verbose=False)
    assert full.load(src) == 349


def test_train_weights_takes_a_yolov5_checkpoint(v5, tiny_data, tmp_path):
    """`train.py --weights yolov5n.pt` (a YOLOv5 repository file): converted in memory, every tensor loaded; into a
    model with another head the transfer is refused unless transfer=backbone."""
    from yolo_ext.cli.train import train_overrides, train_parser
    from yolo_ext.engine.trainer import AnchorTrainer

    src, path = v5
    common = ["--data", str(tiny_data), "--imgsz", "64", "--workers", "0", "--device", "cpu", "--project",
              str(tmp_path), "--weights", str(path)]
    for cfg, extra, ok in (("yolov5n.yaml", [], True), ("yolov5n-1a.yaml", [], False),
                           ("yolov5n-1a.yaml", ["--set", "transfer=backbone"], True)):
        t = AnchorTrainer(overrides=train_overrides(train_parser().parse_args(["--cfg", cfg, *common, *extra])))
        t.data["nc"] = 3  # the checkpoint's classes, so that only the anchor count differs for the -1a YAML
        if not ok:
            with pytest.raises(ValueError, match="detection head did not load"):
                t.setup_model()
            continue
        t.setup_model()
        got = t.model.state_dict()
        assert torch.equal(got["model.3.conv.weight"], src.state_dict()["model.3.conv.weight"])
        if cfg == "yolov5n.yaml":
            assert all(torch.allclose(got[k].float(), v.float()) for k, v in src.state_dict().items())
