"""The stock ultralytics front end after ``import yolo_ext``: YAMLs, checkpoints and the ``yolo`` command line route to
our model / trainer / validator whenever the head is AnchorDetect; stock models keep upstream's classes."""

import os
import socket
import subprocess
import sys

import pytest
import torch
from ultralytics import YOLO
from ultralytics.models.yolo.detect import DetectionTrainer, DetectionValidator
from ultralytics.nn.tasks import DetectionModel

import yolo_ext  # noqa: F401  (patches + front-end routing)
from yolo_ext import AnchorDetectionModel, AnchorTrainer, AnchorValidator
from yolo_ext.cli.convert import main as convert_main
from yolov5_fixture import randomise, write_yolov5_checkpoint

from helpers import ROOT

slow = pytest.mark.slow
COMMON = dict(epochs=1, batch=4, imgsz=64, device="cpu", workers=0, plots=False, exist_ok=True)


def test_yaml_builds_our_model_and_fuse_folds_repvgg():
    """The trap: a plain DetectionModel whose fuse() left 14 BatchNorms of the RepVGG branches."""
    m = YOLO(str(ROOT / "models" / "face-vgg-fpn-rep.yaml"))
    assert type(m.model) is AnchorDetectionModel
    assert m._smart_load("trainer") is AnchorTrainer and issubclass(m._smart_load("validator"), AnchorValidator)
    fused = m.model.fuse(verbose=False)
    assert not any(isinstance(x, torch.nn.BatchNorm2d) for x in fused.modules())


def test_stock_models_keep_upstream_classes():
    m = YOLO("yolov5nu.yaml")  # ultralytics' own anchor-free YOLOv5u
    assert type(m.model) is DetectionModel
    assert m._smart_load("trainer") is DetectionTrainer and m._smart_load("validator") is DetectionValidator


def test_local_yolov5n_pt_is_used_as_given(tmp_path, monkeypatch):
    """The trap: ultralytics rewrote an existing local yolov5n.pt to yolov5nu.pt and tried to download it."""
    def refuse(*a, **k):
        raise AssertionError("network access")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    src = randomise(AnchorDetectionModel(str(ROOT / "models" / "yolov5n.yaml"), nc=2, verbose=False))
    v5 = write_yolov5_checkpoint(src, tmp_path / "v5.pt", tmp_path / "pkg")
    assert convert_main(["yolov5", str(v5), str(tmp_path / "yolov5n.pt")]) == 0  # one of ours, named like YOLOv5's
    (tmp_path / "yolov5s.pt").write_bytes(v5.read_bytes())  # a YOLOv5 repository checkpoint, its usual name
    monkeypatch.chdir(tmp_path)
    for name in ("yolov5n.pt", "yolov5s.pt"):
        m = YOLO(name)
        assert type(m.model) is AnchorDetectionModel and m.ckpt_path == name
        assert torch.allclose(m.model.state_dict()["model.3.conv.weight"], src.state_dict()["model.3.conv.weight"])
        assert m._smart_load("trainer") is AnchorTrainer


@slow
def test_yaml_train_then_checkpoint_train_and_val(tiny_data, tmp_path):
    """The traps: the stock trainer (AdamW, KeyError 'boxes'), then 'Conv2d' object is not subscriptable."""
    m = YOLO(str(ROOT / "models" / "yolov5n-1a.yaml"))
    m.train(data=str(tiny_data), project=str(tmp_path), name="a", **COMMON)
    assert type(m.trainer) is AnchorTrainer and m.trainer.args.optimizer == "SGD"
    best = m.trainer.best
    again = YOLO(str(best))
    again.train(data=str(tiny_data), project=str(tmp_path), name="b", **COMMON)
    assert type(again.trainer) is AnchorTrainer
    metrics = YOLO(str(best)).val(data=str(tiny_data), imgsz=64, batch=4, device="cpu", plots=False,
                                  project=str(tmp_path), name="v")
    assert type(metrics).__name__ == "DetMetrics" and (tmp_path / "v").is_dir()


@slow
def test_yolo_cli_trains_our_model(tiny_data, tmp_path):
    """`python -m yolo_ext.yolo train model=models/yolov5n-1a.yaml` (the stock CLI: KeyError 'AnchorDetect')."""
    cmd = [sys.executable, "-m", "yolo_ext.yolo", "train", f"model={ROOT / 'models' / 'yolov5n-1a.yaml'}",
           f"data={tiny_data}", f"project={tmp_path}", "name=cli", *(f"{k}={v}" for k, v in COMMON.items())]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "YOLO_OFFLINE": "1"},
                       timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    ckpt = torch.load(tmp_path / "cli" / "weights" / "best.pt", weights_only=False)
    assert type(ckpt["model"]) is AnchorDetectionModel and "assigner" in ckpt["train_args"]
