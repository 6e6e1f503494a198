"""WIDER FACE evaluation of trained models: end of training, val.py, both test-size protocols."""

import json
import subprocess
import sys

import numpy as np
import pytest

import yolo_ext  # noqa: F401
from yolo_ext.engine import AnchorYOLO
from yolo_ext.config.paths import ROOT, resolve_model_cfg
from yolo_ext.engine.trainer import AnchorTrainer
from yolo_ext.config.data import wider_section
from yolo_ext.engine.wider_eval import predict_wider, run_wider_eval
from yolo_ext.widerface import load_ground_truth
from yolo_ext.widerface.convert import convert
from yolo_ext.widerface.synth import synth

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wider_yaml(tmp_path_factory):
    d = tmp_path_factory.mktemp("wider")
    root = synth(d / "wider", n_train=8, n_val=4, seed=3, size=160)
    return convert(root, d / "yolo")


@pytest.fixture(scope="module")
def run(wider_yaml, tmp_path_factory):
    t = AnchorTrainer(overrides=dict(
        model=str(resolve_model_cfg("yolov5n-1a.yaml")), data=str(wider_yaml), epochs=1, batch=4, imgsz=96,
        device="cpu", project=str(tmp_path_factory.mktemp("runs")), name="w", workers=0, plots=False))
    t.train()
    return t


def test_training_writes_wider_results(run):
    res = json.loads((run.save_dir / "wider_ap.json").read_text())
    assert set(res) >= {"easy", "medium", "hard", "imgsz"} and res["imgsz"] == 96
    assert all(0.0 <= res[k] <= 1.0 for k in ("easy", "medium", "hard"))
    assert (run.save_dir / "wider_pr.png").stat().st_size > 1000
    gt = load_ground_truth(wider_section(run.data)["gt_dir"])
    files = list((run.save_dir / "wider_pred").rglob("*.txt"))
    assert len(files) == len(gt.images)


def test_original_size_protocol_returns_pixels_of_the_original_image(run, wider_yaml):
    sec = wider_section(wider_yaml)
    gt = load_ground_truth(sec["gt_dir"])
    from pathlib import Path

    paths = [Path(sec["val_images"]) / ev / f"{n}.jpg" for ev, n in gt.images]
    model = AnchorYOLO(str(run.best))
    for size in (0, 96):
        dets = predict_wider(model, paths, imgsz=size, conf=0.0, device="cpu", batch=2)
        assert len(dets) == len(paths)
        for d, p in zip(dets, paths):
            from PIL import Image

            w, h = Image.open(p).size
            assert d.shape[1] == 5 and len(d) > 0
            assert (d[:, 0] >= -1).all() and (d[:, 0] + d[:, 2] <= w + 1).all() and (d[:, 1] + d[:, 3] <= h + 1).all()
            assert np.all(np.diff(d[:, 4]) <= 1e-6)  # NMS output sorted by score


def test_val_cli_prints_wider_table(run, wider_yaml, tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "val.py"), "--weights", str(run.best), "--data", str(wider_yaml), "--imgsz", "96",
         "--device", "cpu", "--project", str(tmp_path), "--name", "v"], capture_output=True, text=True)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "WIDER FACE" in text and "hard" in text and "mAP50" in text
    assert (tmp_path / "v" / "wider_ap.json").is_file()


def test_no_widerface_section_is_a_clear_error(tiny_data, run, tmp_path):
    assert wider_section(tiny_data) is None
    with pytest.raises(ValueError, match="widerface"):
        run_wider_eval(run.best, tiny_data, tmp_path)
