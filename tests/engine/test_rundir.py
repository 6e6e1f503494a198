"""The run directory: locked while a training uses it, resume only from an existing checkpoint and into the folder
that holds it, results.csv with each epoch once after a resume, checkpoint save failures that keep the previous
checkpoint."""

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import yolo_ext  # noqa: F401
from yolo_ext.config.paths import ROOT, resolve_model_cfg
from yolo_ext.engine.rundir import drop_rows_after
from yolo_ext.engine.trainer import AnchorTrainer
from yolo_ext.utils.locks import LOCK_NAME, DirLockedError

from helpers import hold_in_child


class _Stop(Exception):
    pass


def overrides(data, project, name="r", **kw):
    return dict(model=str(resolve_model_cfg("yolov5n-1a.yaml")), data=str(data), epochs=2, batch=4, imgsz=64,
                device="cpu", project=str(project), name=name, exist_ok=True, workers=0, plots=False, **kw)


def stop_after_first_epoch(trainer):
    if trainer.epoch == 0:
        raise _Stop


def epochs_in(csv_path: Path) -> list:
    return [int(float(line.split(",")[0])) for line in csv_path.read_text().splitlines()[1:]]


@pytest.fixture(scope="module")
def interrupted(tiny_data, tmp_path_factory):
    """A 2-epoch run stopped after epoch 0 (last.pt holds epoch 0, results.csv one row)."""
    project = tmp_path_factory.mktemp("runs")
    t = AnchorTrainer(overrides=overrides(tiny_data, project, "a"))
    t.add_callback("on_fit_epoch_end", stop_after_first_epoch)
    with pytest.raises(_Stop):
        t.train()
    assert not (t.save_dir / LOCK_NAME).exists()  # released although training ended in an exception
    return t.save_dir


def test_a_live_training_locks_its_run_directory(tiny_data, tmp_path):
    run = tmp_path / "same"
    holder = hold_in_child(run)  # the other training of `--name same --exist-ok`
    try:
        with pytest.raises(DirLockedError, match=rf"run directory .*same is in use by PID {holder.pid}"):
            AnchorTrainer(overrides=overrides(tiny_data, tmp_path, "same"))
        assert not (run / "args.yaml").exists()  # nothing of the second run was written into the first
        out = subprocess.run([sys.executable, str(ROOT / "train.py"), "--data", str(tiny_data), "--cfg",
                              "yolov5n-1a.yaml", "--project", str(tmp_path), "--name", "same", "--exist-ok",
                              "--device", "cpu"], capture_output=True, text=True, cwd=tmp_path)
        assert out.returncode == 2 and f"is in use by PID {holder.pid}" in out.stderr, out.stderr[-2000:]
    finally:
        holder.kill()
        holder.wait()


def test_lock_is_released_when_the_trainer_cannot_be_built(tmp_path):
    bad = tmp_path / "nolabels.yaml"
    bad.write_text(f"path: {tmp_path}\ntrain: nothing\nval: nothing\nnames: {{0: a}}\n")
    with pytest.raises(Exception):
        AnchorTrainer(overrides=overrides(bad, tmp_path, "x"))
    assert not (tmp_path / "x" / LOCK_NAME).exists()


def test_new_runs_without_exist_ok_get_distinct_folders(tiny_data, tmp_path):
    a = AnchorTrainer(overrides={**overrides(tiny_data, tmp_path, "exp"), "exist_ok": False})
    b = AnchorTrainer(overrides={**overrides(tiny_data, tmp_path, "exp"), "exist_ok": False})
    assert (a.save_dir.name, b.save_dir.name) == ("exp", "exp-2")
    a.release_run_dir()
    b.release_run_dir()


@pytest.mark.slow
def test_resume_of_a_missing_checkpoint_is_refused(interrupted, tmp_path, monkeypatch):
    """Upstream falls back to the newest last.pt under the working directory: here, a different run."""
    monkeypatch.chdir(interrupted.parent)
    before = (interrupted / "weights" / "last.pt").stat().st_mtime_ns
    with pytest.raises(FileNotFoundError, match=r"resume: checkpoint not found: .*nope.*last\.pt"):
        AnchorTrainer(overrides={"resume": str(tmp_path / "nope" / "last.pt")})
    out = subprocess.run([sys.executable, str(ROOT / "train.py"), "--resume", str(tmp_path / "nope.pt")],
                         capture_output=True, text=True, cwd=interrupted.parent)
    assert out.returncode == 2 and "checkpoint not found" in out.stderr, out.stderr[-2000:]
    assert (interrupted / "weights" / "last.pt").stat().st_mtime_ns == before


@pytest.mark.slow
def test_resume_of_a_copied_run_writes_into_the_copy_with_each_epoch_once(interrupted, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(interrupted, copy)
    stamps = {p: p.stat().st_mtime_ns for p in interrupted.rglob("*") if p.is_file()}
    # a kill between the results.csv append and the checkpoint save: the csv holds epoch 2, last.pt epoch 0 -> 1
    with open(copy / "results.csv", "a") as f:
        f.write(open(copy / "results.csv").read().splitlines()[1].replace("1,", "2,", 1) + "\n")
    assert epochs_in(copy / "results.csv") == [1, 2]
    r = AnchorTrainer(overrides={"resume": str(copy / "weights" / "last.pt")})
    assert r.save_dir == copy and r.last == copy / "weights" / "last.pt"
    r.train()
    assert epochs_in(copy / "results.csv") == [1, 2]  # epoch 2 once, the one trained after the resume
    assert torch.load(copy / "weights" / "last.pt", weights_only=False)["train_results"]["epoch"] == [1, 2]
    assert {p: p.stat().st_mtime_ns for p in interrupted.rglob("*") if p.is_file()} == stamps  # original untouched


def test_drop_rows_after(tmp_path):
    p = tmp_path / "results.csv"
    p.write_text("epoch,time\n1,1.0\n2,2.0\n3,3.0\n")
    assert drop_rows_after(p, 2) == 1 and p.read_text() == "epoch,time\n1,1.0\n2,2.0\n"
    assert drop_rows_after(p, 2) == 0 and drop_rows_after(tmp_path / "none.csv", 1) == 0


@pytest.mark.slow
def test_failed_checkpoint_save_keeps_the_previous_one(tiny_data, tmp_path, monkeypatch):
    """A full disk while writing the second epoch's checkpoint: last.pt of epoch 0 survives, no temporaries."""
    real = Path.write_bytes

    def full_disk(self, data):
        real(self, data[: len(data) // 2])  # a truncated file, then the write fails
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fill_disk(trainer):
        if trainer.epoch == 1:
            monkeypatch.setattr(Path, "write_bytes", full_disk)

    t = AnchorTrainer(overrides=overrides(tiny_data, tmp_path, "full"))
    t.add_callback("on_train_epoch_end", fill_disk)
    with pytest.raises(OSError, match=r"could not save the checkpoint .*full/weights/last\.pt .*No space left") as e:
        t.train()
    assert e.value.errno == errno.ENOSPC
    monkeypatch.setattr(Path, "write_bytes", real)
    w = tmp_path / "full" / "weights"
    assert sorted(p.name for p in w.iterdir()) == ["best.pt", "last.pt"]  # no .tmp left
    assert torch.load(w / "last.pt", weights_only=False)["epoch"] == 0


def test_ultralytics_raytune_callback_is_dropped_and_ours_stay(tiny_data, tmp_path):
    """ultralytics adds its Ray Tune callback whenever ray is installed; it would warn every epoch outside a Ray
    session and can never report for our trainings (tune trials run each training in a worker process)."""
    pytest.importorskip("ray")
    from ultralytics.utils import SETTINGS
    from yolo_ext.engine.trainer import RAYTUNE_CALLBACKS

    if SETTINGS["raytune"] is not True:
        pytest.skip("the raytune integration is disabled in this ultralytics settings file")
    t = AnchorTrainer(overrides=overrides(tiny_data, tmp_path, "rt"))
    try:
        mods = {getattr(f, "__module__", "") for fns in t.callbacks.values() for f in fns}
        assert RAYTUNE_CALLBACKS not in mods
        assert "yolo_ext.engine.callbacks" in mods  # our own callbacks are still there
        import ultralytics.utils.callbacks.raytune as rt  # the module we filter on exists and holds a callback

        assert rt.callbacks and all(f.__module__ == RAYTUNE_CALLBACKS for f in rt.callbacks.values())
    finally:
        t.release_run_dir()
