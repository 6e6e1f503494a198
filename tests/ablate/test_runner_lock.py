"""Two ablation runners on one --out: the second stops with the first one's PID and deletes nothing."""

import yaml

from helpers import hold_in_child
from yolo_ext.ablate import load_plan
from yolo_ext.ablate import runner as runner_mod
from yolo_ext.cli.ablate import main
from yolo_ext.utils.locks import LOCK_NAME, DirLockedError


def test_second_runner_on_the_same_out_is_refused(tmp_path, monkeypatch, capsys):
    plan_path = tmp_path / "p.yaml"
    plan_path.write_text(yaml.safe_dump({"name": "t", "data": "unused.yaml",
                                         "base": {"model": "yolov5n-1a.yaml", "epochs": 1},
                                         "runs": [{"name": "a", "overrides": {"assigner": "yolov5"}}]}))
    out = tmp_path / "out"
    live = out / "runs" / "a-s0"
    live.mkdir(parents=True)
    (live / "train.log").write_text("epoch 1/1 ...")  # the first runner's live run (no done.json yet)
    launched = []
    monkeypatch.setattr(runner_mod, "launch", lambda *a, **k: launched.append(a) or 1)
    monkeypatch.setattr("yolo_ext.cli.ablate.resolve_plan_data", lambda data: str(tmp_path / "d.yaml"))
    holder = hold_in_child(out)
    try:
        try:
            runner_mod.run_plan(load_plan(plan_path), out, 1, "d.yaml", log=lambda s: None)
            raise AssertionError("the second runner was not stopped")
        except DirLockedError as e:
            assert f"ablation output directory {out} is in use by PID {holder.pid}" in str(e)
        assert main(["--plan", str(plan_path), "--seeds", "1", "--out", str(out)]) == 2
        assert f"is in use by PID {holder.pid}" in capsys.readouterr().err
        assert (live / "train.log").read_text() == "epoch 1/1 ..." and not launched  # the live run is untouched
    finally:
        holder.kill()
        holder.wait()
    runner_mod.run_plan(load_plan(plan_path), out, 1, "d.yaml", log=lambda s: None)  # holder gone: taken over
    assert launched and not (out / LOCK_NAME).exists()
