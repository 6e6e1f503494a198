"""WIDER FACE evaluation of trained models: end of training, val.py, both test-size protocols, coordinates.

The synthetic val images are not square (W = 160, H in [96, 160]), so the letterboxed input and the original image
differ in scale and offset: a detection left in input pixels (or rescaled without removing the padding) is caught by
the exact-box oracle below.
"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import yolo_ext  # noqa: F401
from yolo_ext.engine import AnchorYOLO
from yolo_ext.config.paths import ROOT, resolve_model_cfg
from yolo_ext.engine.trainer import AnchorTrainer
from yolo_ext.config.data import wider_section
from yolo_ext.engine.wider_eval import predict_wider, run_wider_eval
from yolo_ext.widerface import evaluate, load_ground_truth
from yolo_ext.widerface.convert import convert
from yolo_ext.widerface.synth import synth

pytestmark = pytest.mark.slow
PAD = 114 / 255  # ultralytics' letterbox grey, as the model sees it


@pytest.fixture(scope="module")
def wider_yaml(tmp_path_factory):
    d = tmp_path_factory.mktemp("wider")
    root = synth(d / "wider", n_train=8, n_val=4, seed=3, size=160)
    return convert(root, d / "yolo")


@pytest.fixture(scope="module")
def val_images(wider_yaml):
    sec = wider_section(wider_yaml)
    gt = load_ground_truth(sec["gt_dir"])
    paths = [Path(sec["val_images"]) / ev / f"{n}.jpg" for ev, n in gt.images]
    sizes = [Image.open(p).size for p in paths]
    assert any(w != h for w, h in sizes), "the test needs non-square images"
    return gt, paths, sizes


@pytest.fixture(scope="module")
def run(wider_yaml, tmp_path_factory):
    t = AnchorTrainer(overrides=dict(
        model=str(resolve_model_cfg("yolov5n-1a.yaml")), data=str(wider_yaml), epochs=1, batch=4, imgsz=96,
        device="cpu", project=str(tmp_path_factory.mktemp("runs")), name="w", workers=0, plots=False))
    t.train()
    return t


def content_box_model(weights):
    """``AnchorYOLO(weights)`` whose forward outputs exactly one detection (score 0.9): the box of the input's
    non-padding area, in input pixels. In original-image pixels that box is the whole image, (0, 0, W, H)."""
    model = AnchorYOLO(str(weights))
    net = model.model
    real = net.predict

    def predict(x, *args, **kwargs):
        y, raw = real(x, *args, **kwargs)
        out = torch.zeros_like(y)
        for b in range(x.shape[0]):
            content = (x[b].float() - PAD).abs().amax(0) > 1e-4  # (h, w)
            rows, cols = content.any(1).nonzero()[:, 0], content.any(0).nonzero()[:, 0]
            if len(rows):
                x0, x1, y0, y1 = float(cols[0]), float(cols[-1] + 1), float(rows[0]), float(rows[-1] + 1)
                out[b, :5, 0] = torch.tensor([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, 0.9])
        return out, raw

    net.predict = predict  # BaseModel.forward calls self.predict
    return model


def umask():
    u = os.umask(0)
    os.umask(u)
    return u


def test_training_writes_wider_results(run, val_images):
    gt, paths, _ = val_images
    res = json.loads((run.save_dir / "wider_ap.json").read_text())
    assert (res["imgsz"], res["conf"], res["iou"], res["n_images"]) == (96, 0.01, 0.6, len(gt.images))
    again = evaluate(run.save_dir / "wider_pred", gt)  # the files on disk give the reported APs
    assert {k: res[k] for k in ("easy", "medium", "hard")} == dict(again)
    fresh = predict_wider(AnchorYOLO(str(run.best)), paths, imgsz=96, conf=0.01, iou=0.6, device="cpu")
    assert dict(evaluate(dict(zip(gt.images, fresh)), gt)) == dict(again)  # and they are best.pt's predictions
    assert sum(len(d) for d in fresh) > 0
    png = run.save_dir / "wider_pr.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    for p, full in ((png, 0o666), (run.save_dir / "wider_ap.json", 0o666), (run.save_dir / "wider_pred", 0o777)):
        assert stat.S_IMODE(p.stat().st_mode) == full & ~umask(), p  # not mkstemp's private 0600 / 0700
    assert not list(run.save_dir.glob(".*"))  # no temporary file or folder left


@pytest.mark.parametrize("imgsz", [96, 0])
def test_wider_files_are_in_original_image_pixels(run, wider_yaml, val_images, tmp_path, imgsz):
    gt, _, sizes = val_images
    run_wider_eval(content_box_model(run.best), wider_yaml, tmp_path, imgsz=imgsz, conf=0.5, device="cpu", batch=2)
    for (ev, name), (w, h) in zip(gt.images, sizes):
        lines = (tmp_path / "wider_pred" / ev / f"{name}.txt").read_text().splitlines()
        assert lines[:2] == [name, "1"], lines
        gain = (imgsz or max(w, h)) / max(w, h)
        np.testing.assert_allclose([float(v) for v in lines[2].split()], [0, 0, w, h, 0.9], atol=1.0 / gain + 0.5)


def test_original_size_protocol_returns_pixels_of_the_original_image(run, val_images):
    _, paths, sizes = val_images
    model = AnchorYOLO(str(run.best))
    for size in (0, 96):
        dets = predict_wider(model, paths, imgsz=size, conf=0.0, device="cpu", batch=2)
        assert len(dets) == len(paths)
        for d, (w, h) in zip(dets, sizes):
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
    res = json.loads((tmp_path / "v" / "wider_ap.json").read_text())
    gt = load_ground_truth(wider_section(wider_yaml)["gt_dir"])
    assert {k: res[k] for k in ("easy", "medium", "hard")} == dict(evaluate(tmp_path / "v" / "wider_pred", gt))
    assert f"{res['hard']:8.4f}" in text  # the printed table is the saved result


def test_no_widerface_section_is_a_clear_error(tiny_data, run, tmp_path):
    assert wider_section(tiny_data) is None
    with pytest.raises(ValueError, match="widerface"):
        run_wider_eval(run.best, tiny_data, tmp_path)


def test_val_cli_protocol_tta_and_flops(run, wider_yaml, tmp_path):
    """`--wider-protocol scrfd --tta`: the preset's settings, TTA and both FLOPs conventions land in wider_ap.json
    and are printed next to the AP table."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "val.py"), "--weights", str(run.best), "--data", str(wider_yaml), "--imgsz", "96",
         "--device", "cpu", "--project", str(tmp_path), "--name", "p", "--wider-protocol", "scrfd", "--tta"],
        capture_output=True, text=True)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    res = json.loads((tmp_path / "p" / "wider_ap.json").read_text())
    assert (res["protocol"], res["imgsz"], res["conf"], res["iou"], res["square"], res["tta"]) == (
        "scrfd", 640, 0.02, 0.45, True, True)
    f = res["flops"]
    assert f["gflops_2macs_640x640"] == pytest.approx(2 * f["gmacs_640x480"] * 640 / 480, rel=2e-3)
    assert f"{f['gflops_2macs_640x640']:.3f} GFLOPs at 640x640" in text and "GMACs at 640x480" in text
    gt = load_ground_truth(wider_section(wider_yaml)["gt_dir"])
    assert {k: res[k] for k in ("easy", "medium", "hard")} == dict(evaluate(tmp_path / "p" / "wider_pred", gt))


def test_stock_yolo_val_prints_the_wider_table(run, wider_yaml, tmp_path):
    """After `import yolo_ext`, `YOLO("best.pt").val(data=<WIDER data>)` adds val.py's WIDER table (protocol ours)."""
    from ultralytics import YOLO

    metrics = YOLO(str(run.best)).val(data=str(wider_yaml), imgsz=96, batch=2, device="cpu", plots=False,
                                      project=str(tmp_path), name="y")
    res = json.loads((tmp_path / "y" / "wider_ap.json").read_text())
    assert (res["protocol"], res["imgsz"], res["conf"], res["iou"]) == ("ours", 96, 0.01, 0.6)
    gt = load_ground_truth(wider_section(wider_yaml)["gt_dir"])
    assert {k: res[k] for k in ("easy", "medium", "hard")} == dict(evaluate(tmp_path / "y" / "wider_pred", gt))
    assert dict(metrics.wider) == {k: res[k] for k in ("easy", "medium", "hard")}
