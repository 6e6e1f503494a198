"""End to end on a tiny generated dataset: train, settings round trip, val, predict, ONNX, resume, DDP file; the
checks that run when the trainer is built (slow marks the tests that train)."""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import yolo_ext  # noqa: F401
from yolo_ext.engine import AnchorYOLO
from yolo_ext.config.paths import ROOT, resolve_model_cfg
from yolo_ext.engine.trainer import AnchorTrainer

from helpers import overfit_losses

slow = pytest.mark.slow


def train(data, project, name, epochs=2, **kw):
    ov = dict(
        model=str(resolve_model_cfg("yolov5n-1a.yaml")), data=str(data), epochs=epochs, batch=4, imgsz=64,
        device="cpu", project=str(project), name=name, exist_ok=True, workers=0, plots=False,
    )
    ov.update(kw)
    t = AnchorTrainer(overrides=ov)
    t.train()
    return t


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory):
    return train(tiny_data, tmp_path_factory.mktemp("runs"), "e2e", assigner="yolov5", anchor_t=3.5, obj=0.7)


@slow
def test_a_few_iterations_lower_the_loss():
    losses = overfit_losses("yolov5n.yaml", steps=15)
    assert losses[-1] < 0.9 * losses[0], losses


@slow
def test_settings_round_trip_args_yaml_and_checkpoint(run):
    args = yaml.safe_load((run.save_dir / "args.yaml").read_text())
    assert (args["assigner"], args["anchor_t"], args["obj"], args["optimizer"]) == ("yolov5", 3.5, 0.7, "SGD")
    ckpt = torch.load(run.best, map_location="cpu", weights_only=False)
    assert ckpt["train_args"]["anchor_t"] == 3.5 and ckpt["train_args"]["assigner"] == "yolov5"
    assert ckpt["model"].args["anchor_t"] == 3.5
    with open(run.save_dir / "results.csv") as f:
        header = next(csv.reader(f))
    assert {"train/box_loss", "train/obj_loss", "train/cls_loss", "val/obj_loss"} <= {h.strip() for h in header}
    assert not list(run.wdir.glob(".*.tmp")), "temporary checkpoint files left behind"


@slow
def test_val_predict_and_val_cli(run, tiny_data, tmp_path):
    model = AnchorYOLO(str(run.best))
    saved = torch.load(run.best, map_location="cpu", weights_only=False)["model"].float().state_dict()
    loaded = model.model.state_dict()
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k].float()) for k in saved)  # head too
    # the trainer validated best.pt after training (its val loader: batch 2 x 4 = 8); Model.val gives the same metrics
    m = model.val(data=str(tiny_data), imgsz=64, batch=8, device="cpu", project=str(tmp_path), name="v", plots=False)
    final = {k: v for k, v in run.metrics.items() if k.startswith("metrics/")}
    assert final and {k: m.results_dict[k] for k in final} == pytest.approx(final, abs=1e-9)
    assert m.save_dir == tmp_path / "v"
    img = next((Path(tiny_data).parent / "images" / "val").glob("*.jpg"))
    res = model.predict(str(img), imgsz=64, conf=0.0, device="cpu", verbose=False)
    assert len(res) == 1 and len(res[0].boxes) > 0 and res[0].boxes.xyxy.shape[1] == 4
    out = subprocess.run(
        [sys.executable, str(ROOT / "val.py"), "--weights", str(run.best), "--data", str(tiny_data), "--imgsz", "64",
         "--device", "cpu", "--project", str(tmp_path), "--name", "cli"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "mAP50" in out.stdout + out.stderr


@slow
def test_onnx_export_matches_pytorch(run, tmp_path):
    import onnxruntime as ort

    model = AnchorYOLO(str(run.best))
    f = model.export(format="onnx", imgsz=64, device="cpu", simplify=False)
    x = torch.rand(1, 3, 64, 64)
    net = AnchorYOLO(str(run.best)).model.float().fuse(verbose=False).eval()
    with torch.no_grad():
        ref = net(x)[0].numpy()
    sess = ort.InferenceSession(str(f), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    assert got.shape == ref.shape == (1, 5, 1 * (64 + 16 + 4))
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4)


@slow
def test_dynamic_onnx_export_other_input_shapes(run, tmp_path):
    import onnxruntime as ort

    w = tmp_path / "dyn.pt"
    w.write_bytes(run.best.read_bytes())
    f = AnchorYOLO(str(w)).export(format="onnx", imgsz=64, dynamic=True, device="cpu", simplify=False)
    net = AnchorYOLO(str(w)).model.float().fuse(verbose=False).eval()
    sess = ort.InferenceSession(str(f), providers=["CPUExecutionProvider"])
    for h, wd in ((64, 64), (96, 128)):  # the grid is part of the graph, not a constant of the export size
        x = torch.rand(1, 3, h, wd)
        with torch.no_grad():
            ref = net(x)[0].numpy()
        got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4)


@slow
def test_export_cli_checks_onnx_runtime(run, tmp_path):
    out = subprocess.run([sys.executable, "-m", "yolo_ext.export", "--weights", str(run.best), "--imgsz", "64", "--check"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert "max abs difference" in out.stdout


class _Interrupt(Exception):
    pass


@slow
def test_resume_keeps_extension_settings(tiny_data, tmp_path):
    def stop(trainer):
        if trainer.epoch == 0:
            raise _Interrupt

    t = AnchorTrainer(overrides=dict(
        model=str(resolve_model_cfg("yolov5n-1a.yaml")), data=str(tiny_data), epochs=2, batch=4, imgsz=64,
        device="cpu", project=str(tmp_path), name="r", workers=0, plots=False, assigner="distance", anchor_t=3.0))
    t.add_callback("on_fit_epoch_end", stop)
    with pytest.raises(_Interrupt):
        t.train()
    last = t.last
    assert torch.load(last, weights_only=False)["epoch"] == 0
    r = AnchorTrainer(overrides={"resume": str(last)})
    assert (r.args.assigner, r.args.anchor_t) == ("distance", 3.0)
    epochs = []
    r.add_callback("on_train_epoch_start", lambda tr: epochs.append(tr.epoch))
    r.train()
    assert epochs == [1]  # resumed after epoch 0 and ran only the missing epoch
    ckpt = torch.load(r.last, weights_only=False)  # stripped by final_eval: epoch -1, settings and history kept
    assert ckpt["epoch"] == -1 and (ckpt["train_args"]["assigner"], ckpt["train_args"]["anchor_t"]) == ("distance", 3.0)
    assert [int(e) for e in ckpt["train_results"]["epoch"]] == [1, 2]


@slow
def test_ddp_file_rebuilds_our_trainer_with_same_settings(run, tmp_path):
    from ultralytics.utils.dist import ddp_cleanup, generate_ddp_file

    file = generate_ddp_file(run)
    try:
        pt = Path(file).with_suffix(".pt")
        code = f"""
import sys
sys.path = {sys.path!r}  # as the generated DDP file does
from ultralytics.utils import DEFAULT_CFG_DICT
from ultralytics.utils.patches import torch_load
state = torch_load({str(pt)!r}, map_location="cpu")
cfg = DEFAULT_CFG_DICT.copy(); cfg.update(save_dir='')
t = state["trainer"](cfg=cfg, overrides=state["args"], _callbacks=state["callbacks"])
import ultralytics.nn.tasks as tasks
print(type(t).__module__, type(t).__name__, t.args.assigner, t.args.anchor_t, t.args.obj,
      getattr(tasks.parse_model, "__yolo_ext_patched__", False))
"""
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]
        assert out.stdout.split()[-6:] == ["yolo_ext.engine.trainer", "AnchorTrainer", "yolov5", "3.5", "0.7", "True"]
        assert "_temp_" in Path(file).name and "if __name__" in Path(file).read_text()
    finally:
        ddp_cleanup(run, file)


@slow
def test_malformed_label_rows_are_skipped_with_warning(tmp_path):
    from helpers import make_tiny_dataset

    data = make_tiny_dataset(tmp_path / "bad", bad_label=True)
    t = train(data, tmp_path, "bad", epochs=1)
    assert len(t.train_loader.dataset.labels) == 7  # the image with the 3-value row is dropped, training goes on


def test_unknown_assigner_lists_valid_names(tiny_data, tmp_path):
    with pytest.raises(ValueError, match="yolov5") as e:
        AnchorTrainer(overrides=dict(model="x.yaml", data=str(tiny_data), assigner="nope", project=str(tmp_path)))
    assert "radius" in str(e.value)


def test_missing_wider_paths_fail_when_the_trainer_is_built(tiny_data, tmp_path):
    cfg = yaml.safe_load(Path(tiny_data).read_text())
    cfg["widerface"] = {"gt_dir": str(tmp_path / "no_gt"), "val_images": str(Path(tiny_data).parent / "images" / "val")}
    data = tmp_path / "wider.yaml"
    data.write_text(yaml.safe_dump(cfg))
    ov = dict(model=str(resolve_model_cfg("yolov5n-1a.yaml")), data=str(data), project=str(tmp_path), device="cpu")
    with pytest.raises(FileNotFoundError, match=r"wider\.yaml: .*widerface\.gt_dir: .*no_gt.* does not exist"):
        AnchorTrainer(overrides=ov)
    t = AnchorTrainer(overrides={**ov, "wider_eval": False})  # the evaluation, not training, needs the paths
    assert t.data["widerface"]["gt_dir"].endswith("no_gt")


@slow
def test_assigner_warmup_switches_at_its_epoch_across_resume(tiny_data, tmp_path):
    """atss for epoch 0, tal from epoch 1: interrupted after epoch 0, the resumed run assigns with tal."""
    used = []

    def record(trainer):
        used.append((trainer.epoch, trainer.model.criterion.current_assigner().spec))

    def stop(trainer):
        if trainer.epoch == 0:
            raise _Interrupt

    t = AnchorTrainer(overrides=dict(
        model=str(resolve_model_cfg("face-vgg-fpn.yaml")), data=str(tiny_data), epochs=2, batch=4, imgsz=64,
        device="cpu", project=str(tmp_path), name="w", workers=0, plots=False, assigner="tal",
        assigner_warmup="atss", assigner_warmup_epochs=1, wider_eval=False))
    t.add_callback("on_train_epoch_end", record)
    t.add_callback("on_fit_epoch_end", stop)
    with pytest.raises(_Interrupt):
        t.train()
    r = AnchorTrainer(overrides={"resume": str(t.last)})
    assert (r.args.assigner, r.args.assigner_warmup, r.args.assigner_warmup_epochs) == ("tal", "atss", 1)
    r.add_callback("on_train_epoch_end", record)
    r.train()
    assert used == [(0, "atss"), (1, "tal")]
