"""python -m yolo_ext.tune: search-space validation (every bad input fails before anything trains) and a 4-trial
ASHA search on tiny data whose table, best hyp YAML and plan row are checked against the trials' own files."""

import csv
import math
from pathlib import Path

import pytest
import yaml

from helpers import make_tiny_dataset
from yolo_ext.ablate import load_plan
from yolo_ext.ablate import rayexec
from yolo_ext.ablate import runner as runner_mod
from yolo_ext.ablate.collect import read_results_csv
from yolo_ext.cli.tune import main
from yolo_ext.tune import SpaceError, load_space
from yolo_ext.tune import search as search_mod

ray = pytest.importorskip("ray")
BASE = {"model": "yolov5n-1a.yaml", "epochs": 2, "imgsz": 64, "batch": 4, "device": "cpu", "workers": 0,
        "plots": False}


def write_space(tmp_path, space, data="unused.yaml", base=None, name="s.yaml"):
    if data == "unused.yaml":  # a local dataset YAML (unknown names are refused: nothing is downloaded); never read
        (tmp_path / data).write_text("path: x\ntrain: a\nval: b\nnames: {0: a}\n")
        data = str(tmp_path / data)
    p = tmp_path / name
    p.write_text(yaml.safe_dump({"name": "t", "data": data, "base": base or BASE, "space": space}, sort_keys=False))
    return p


@pytest.mark.parametrize("space, words", [
    ({"lr0": {"uniform": [0.001, 0.01]}, "ignor_iou": {"uniform": [0.3, 0.6]}},
     ["unknown key 'ignor_iou'", "ignore_iou"]),  # typo named, with a suggestion
    ({}, ["empty"]),
    (None, ["empty"]),
    ({"epochs": {"randint": [1, 3]}}, ["'epochs' cannot be searched", "budget"]),
    ({"seed": {"randint": [1, 3]}}, ["'seed' cannot be searched", "runner"]),
    ({"lr0": {"gaussian": [0, 1]}}, ["'lr0'", "uniform", "choice"]),
    ({"lr0": {"uniform": [0.1, 0.01]}}, ["low < high"]),
    ({"lr0": {"loguniform": [0, 0.1]}}, ["low > 0"]),
    ({"lr0": {"uniform": [0.1]}}, ["2 values"]),
    ({"assigner": {"choice": ["yolov5", "nope"]}}, ["'assigner' = 'nope'", "radius"]),  # every choice must build
    ({"ignore_iou": {"uniform": [0.3, 1.5]}}, ["ignore_iou", "1.5"]),  # a bound outside the key's valid range
    ({"ohem": {"choice": ["yes"]}}, ["ohem", "bool"]),
])
def test_bad_space_fails_naming_file_line_and_key(tmp_path, space, words):
    p = write_space(tmp_path, space)
    with pytest.raises(SpaceError) as e:
        load_space(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}:"), msg
    for w in words:
        assert w in msg, (w, msg)
    if space:  # the line is that of the offending key
        line = int(msg[len(str(p)) + 1:].split(":")[0])
        assert any(k in p.read_text().splitlines()[line - 1] for k in space), (line, msg)


def test_space_loads_and_maps_to_tune_samplers(tmp_path):
    s = load_space(write_space(tmp_path, {"lr0": {"loguniform": [0.001, 0.1]}, "close_mosaic": {"randint": [1, 3]},
                                          "assigner": {"choice": ["yolov5", "radius"]},
                                          "ignore_iou": {"quniform": [0.3, 0.7, 0.1]}}))
    assert s.keys == ["lr0", "close_mosaic", "assigner", "ignore_iou"] and s.base["epochs"] == 2
    samplers = {d.key: d.to_tune() for d in s.dists}
    ints = {samplers["close_mosaic"].sample() for _ in range(200)}
    assert ints == {1, 2, 3}  # randint's high is inclusive here
    assert all(0.001 <= samplers["lr0"].sample() <= 0.1 for _ in range(50))
    assert {round(samplers["ignore_iou"].sample(), 6) for _ in range(200)} <= {0.3, 0.4, 0.5, 0.6, 0.7}


def test_bad_inputs_exit_2_before_anything_trains_or_ray_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner_mod, "launch", lambda *a, **k: pytest.fail("nothing may train"))
    monkeypatch.setattr(search_mod, "init_ray", lambda *a, **k: pytest.fail("Ray may not start"))
    good = write_space(tmp_path, {"lr0": {"uniform": [0.001, 0.01]}})
    (tmp_path / "file").write_text("not a directory")
    cases = [(["--space", str(good), "--out", str(tmp_path / "file" / "out")], "not writable"),
             (["--space", str(write_space(tmp_path, {}, name="e.yaml"))], "empty"),
             (["--space", str(write_space(tmp_path, {"nope": {"uniform": [0, 1]}}, name="u.yaml"))], "'nope'"),
             (["--space", str(tmp_path / "missing.yaml")], "not found"),
             (["--space", str(write_space(tmp_path, {"lr0": {"uniform": [0.001, 0.01]}}, name="v.yaml",
                                          base={**BASE, "val": False})), "--scheduler", "asha"], "val: false")]
    for argv, words in cases:
        assert main([*argv, "--samples", "2"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("tune: error:") and words in err, (argv, err)
    monkeypatch.setattr(rayexec, "ray", None)  # as if the [ray] extra were not installed
    assert main(["--space", str(good), "--out", str(tmp_path / "o")]) == 2
    assert ".[ray]" in capsys.readouterr().err


def test_a_second_search_on_a_busy_out_stops_naming_the_holder(tmp_path, monkeypatch, capsys):
    import subprocess
    import sys

    monkeypatch.setattr(search_mod, "init_ray", lambda *a, **k: pytest.fail("Ray may not start"))
    good = write_space(tmp_path, {"lr0": {"uniform": [0.001, 0.01]}})
    out = tmp_path / "o"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from yolo_ext.utils.locks import lock_dir\n"
                               f"with lock_dir({str(out)!r}, 'tune output directory'):\n"
                               "    print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["--space", str(good), "--out", str(out), "--samples", "2"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("tune: error:") and str(holder.pid) in err, err
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_four_trial_asha_search_table_and_best_come_from_the_trials_files(tmp_path):
    data = make_tiny_dataset(tmp_path / "data")  # no widerface: section -> the objective is mAP50
    space = write_space(tmp_path, {"lr0": {"loguniform": [0.001, 0.1]}, "obj": {"uniform": [0.5, 2.0]}},
                        data=str(data))
    out = tmp_path / "out"
    assert main(["--space", str(space), "--samples", "4", "--scheduler", "asha", "--jobs", "2", "--ray-num-cpus", "2",
                 "--no-dashboard", "--out", str(out)]) == 0
    assert not ray.is_initialized()
    rows = list(csv.DictReader((out / "trials.csv").read_text().splitlines()))
    assert len(rows) == 4 and len({(r["lr0"], r["obj"]) for r in rows}) == 4
    own = {}
    for r in rows:  # recompute every finished trial's mAP50 from its own results.csv (1 seed, val each epoch)
        tdir = out / "trials" / r["trial"]
        if r["status"] == "finished":
            res = read_results_csv(tdir / "runs" / "trial-s0" / "results.csv")
            assert len(res) == 2  # the full schedule
            best_row = next(x for x in res if x["metrics/mAP50-95(B)"] == max(y["metrics/mAP50-95(B)"] for y in res))
            own[r["trial"]] = best_row["metrics/mAP50(B)"]
            assert float(r["mAP50"]) == own[r["trial"]]
            assert yaml.safe_load((tdir / "runs" / "trial-s0" / "args.yaml").read_text())["lr0"] == float(r["lr0"])
        else:
            assert r["status"] == "stopped" and r["mAP50"] == "NA"  # ASHA stopped it: never averaged
    assert own, "no trial finished"
    best = max(own, key=own.get)
    assert f"**{best}**" in (out / "trials.md").read_text()
    hyp = yaml.safe_load((out / "best_hyp.yaml").read_text())
    best_row = next(r for r in rows if r["trial"] == best)
    assert hyp["lr0"] == float(best_row["lr0"]) and hyp["obj"] == float(best_row["obj"]) and "epochs" not in hyp
    plan = load_plan(out / "best_plan.yaml")  # a valid ablation plan: base vs the best trial
    assert [r.name for r in plan.runs] == ["base", "tuned"] and plan.baseline.name == "base"
    assert plan.runs[1].config["lr0"] == hyp["lr0"] and plan.runs[1].config["epochs"] == 2
    assert not math.isnan(own[best])


def test_bundled_space_is_valid():
    from helpers import ROOT

    s = load_space(ROOT / "data" / "tune" / "obj-balance.yaml")
    assert s.data == "synth" and s.base["val"] is True and len(s.dists) >= 3
