"""Ablation runner: plan validation, result collection, aggregation over seeds, failure reporting, resume.

Fast tests fake run directories (the files a finished training run leaves behind) and check that the numbers in the
report are exactly those files' numbers, recomputed here independently; the slow test trains a tiny two-config plan
in worker processes, reruns it (nothing retrained) and restarts an interrupted run.
"""

import csv
import json
import math
import statistics
from pathlib import Path

import matplotlib
import pytest
import yaml

from helpers import ROOT, foreign_backend, make_tiny_dataset
from yolo_ext.ablate import PlanError, RunResultError, aggregate, collect_run, load_plan, make_jobs, mean_std
from yolo_ext.ablate import runner as runner_mod
from yolo_ext.cli.ablate import main
from yolo_ext.ablate.report import markdown, summary_csv, write_report
from yolo_ext.ablate.tinydata import ensure_tiny_dataset

MAP50, MAP = "metrics/mAP50(B)", "metrics/mAP50-95(B)"


def write_plan(tmp_path, runs, base=None, name="p.yaml", data="unused.yaml", **top) -> Path:
    plan = {"name": "t", "data": data, "base": base or {"model": "yolov5n-1a.yaml", "epochs": 1}, "runs": runs, **top}
    p = tmp_path / name
    p.write_text(yaml.safe_dump(plan, sort_keys=False))
    return p


def two_runs():
    return [{"name": "a", "overrides": {"assigner": "yolov5"}},
            {"name": "b", "description": "radius", "overrides": {"assigner": "radius", "obj_loss": "vfl"}}]


# ---------------------------------------------------------------- plan validation


@pytest.mark.parametrize("override, words", [
    ({"assignr": "radius"}, ["unknown key 'assignr'", "assigner"]),  # typo: named, with a suggestion
    ({"assigner": "nope"}, ["nope", "radius"]),  # unknown assigner: valid names listed
    ({"assigner": "yolov5+dedup", "dedup_mode": "best"}, ["dedup_mode"]),  # bad assigner parameter value
    ({"obj_loss": "hinge"}, ["hinge", "vfl"]),  # unknown loss
    ({"ohem": "yes"}, ["ohem", "bool"]),  # wrong type for an extension key
    ({"obj_norm": "foo"}, ["obj_norm='foo'", "target_sum"]),  # caught at plan load, not in each run
    ({"ohem_ratio": -1}, ["ohem_ratio=-1.0", "> 0"]),
    ({"label_smoothing": 2}, ["cls_label_smoothing=2.0", "[0, 1)"]),  # the alias is checked too
    ({"lr0": "fast"}, ["lr0"]),  # wrong type for an ultralytics key
    ({"epochs": 5}, ["'epochs' belongs in 'base'"]),  # per-run compute budget refused
    ({"seed": 3}, ["'seed' is set by the runner"]),
    ({"model": "no-such-model.yaml"}, ["no-such-model.yaml"]),
])
def test_plan_errors_name_file_line_and_run(tmp_path, override, words):
    runs = [{"name": "ok", "overrides": {}}, {"name": "bad", "overrides": override}]
    p = write_plan(tmp_path, runs)
    with pytest.raises(PlanError) as e:
        load_plan(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}:") and "run 'bad'" in msg, msg
    line = int(msg[len(str(p)) + 1:].split(":")[0])
    text = p.read_text().splitlines()
    assert "bad" in text[line - 1] or list(override)[0] in text[line - 1], (line, text)
    for w in words:
        assert w in msg, (w, msg)


@pytest.mark.parametrize("plan_extra, words", [
    ({"runs": [{"name": "a"}, {"name": "a"}]}, ["unique", "'a'"]),
    ({"runs": [{"name": "a b"}]}, ["letters, digits"]),
    ({"runs": [{"name": "a", "overides": {}}]}, ["overides"]),
    ({"seeds": 0}, ["seeds"]),
    ({"base": {"model": "yolov5n-1a.yaml", "data": "x.yaml"}}, ["'data' is set by the runner"]),
    ({"bogus": 1}, ["bogus"]),
    ({"runs": [{"name": "a", "baseline": True}, {"name": "b", "baseline": True}]}, ["baseline"]),
])
def test_plan_structure_errors(tmp_path, plan_extra, words):
    p = write_plan(tmp_path, two_runs(), **{k: v for k, v in plan_extra.items() if k not in ("runs", "base")})
    if "runs" in plan_extra or "base" in plan_extra:
        d = yaml.safe_load(p.read_text())
        d.update({k: v for k, v in plan_extra.items() if k in ("runs", "base")})
        p.write_text(yaml.safe_dump(d))
    with pytest.raises(PlanError) as e:
        load_plan(p)
    assert str(e.value).startswith(str(p)), e.value
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_plan_merges_base_resolves_model_and_fingerprints(tmp_path):
    p = write_plan(tmp_path, two_runs() + [{"name": "c", "baseline": True, "overrides": {"ohem": True}}],
                   base={"model": "yolov5n-1a.yaml", "epochs": 2, "imgsz": 64, "device": "cpu"})
    plan = load_plan(p)
    a, b, c = plan.runs
    assert plan.baseline is c and plan.seeds == 1
    assert b.config["assigner"] == "radius" and b.config["epochs"] == 2 and b.config["imgsz"] == 64
    assert Path(a.config["model"]).is_absolute() and Path(a.config["model"]).is_file()
    assert a.fingerprint("d.yaml") != b.fingerprint("d.yaml") != b.fingerprint("other.yaml")
    from dataclasses import replace

    for change in ({"plots": True}, {"device": "0"}):  # output only / where it runs (recorded in env.json)
        assert replace(b, config={**b.config, **change}).fingerprint("d.yaml") == b.fingerprint("d.yaml"), change
    for change in ({"lr0": 0.02}, {"workers": 8}, {"cache": "ram"}):  # these change the numbers a run produces
        assert replace(b, config={**b.config, **change}).fingerprint("d.yaml") != b.fingerprint("d.yaml"), change


def _clone(root: Path, model_text="nc: 1\n") -> tuple:
    """A stand-in checkout: <root>/models/m.yaml and <root>/datasets/set/d.yaml."""
    (root / "models").mkdir(parents=True)
    (root / "datasets" / "set").mkdir(parents=True)
    (root / "models" / "m.yaml").write_text(model_text)
    (root / "datasets" / "set" / "d.yaml").write_text("path: x\n")
    return root / "models" / "m.yaml", root / "datasets" / "set" / "d.yaml"


def _in_clone(monkeypatch, root: Path):
    from yolo_ext.ablate import plan as plan_mod

    monkeypatch.setattr(plan_mod, "ROOT", root)
    monkeypatch.setattr(plan_mod, "datasets_dir", lambda: root / "datasets")


def test_fingerprint_is_the_same_from_another_clone_but_sees_a_model_edit(tmp_path, monkeypatch):
    from dataclasses import replace
    from yolo_ext.ablate.plan import RunSpec

    fps = []
    for clone in ("a", "b"):
        model, data = _clone(tmp_path / clone)
        _in_clone(monkeypatch, tmp_path / clone)
        run = RunSpec("r", "", {"model": str(model), "epochs": 2, "assigner": "radius"})
        fps.append(run.fingerprint(str(data)))
        if clone == "b":
            model.write_text("nc: 2\n")  # the model YAML edited in place: its runs are stale
            fps.append(run.fingerprint(str(data)))
            fps.append(replace(run, config={**run.config, "epochs": 3}).fingerprint(str(data)))
            (tmp_path / "b" / "datasets" / "other").mkdir()
            fps.append(run.fingerprint(str(tmp_path / "b" / "datasets" / "other" / "d.yaml")))
    assert fps[0] == fps[1], "same settings, same relative files, another checkout: same fingerprint"
    assert len(set(fps[1:])) == 4, fps
    # outside the checkout and the datasets folder a file counts by its absolute path
    ext = tmp_path / "ext.yaml"
    ext.write_text("path: x\n")
    run = RunSpec("r", "", {"model": str(tmp_path / "b" / "models" / "m.yaml")})
    assert run.fingerprint(str(ext)) != run.fingerprint(str(tmp_path / "elsewhere" / "ext.yaml"))


def _legacy_run(job_dir: Path, run, model: str, data: str) -> None:
    """What a run of fingerprint version 1 left: ablate_config.json with absolute paths, done.json without a
    version, its v1 hash over those paths."""
    fake_run(job_dir, [(0.5, 0.2, 3.0)], val=False)
    (job_dir / "ablate_config.json").write_text(json.dumps({**run.config, "model": model, "data": data}))
    (job_dir / "done.json").write_text(json.dumps({"fingerprint": run.legacy_fingerprint(data, model)}))


def test_version_1_runs_are_accepted_from_a_moved_checkout_only_when_nothing_else_changed(tmp_path, monkeypatch):
    from dataclasses import replace
    from yolo_ext.ablate.plan import RunSpec
    from yolo_ext.ablate.runner import Job, check_done

    old_model, old_data = _clone(tmp_path / "old")
    new_model, new_data = _clone(tmp_path / "new")
    _in_clone(monkeypatch, tmp_path / "new")
    old = RunSpec("r", "", {"model": str(old_model), "epochs": 1, "val": False, "assigner": "radius"})
    now = replace(old, config={**old.config, "model": str(new_model)})
    job = Job(now, 0, tmp_path / "out" / "runs" / "r-s0")

    def verdict(run=now, data=new_data):
        return check_done(Job(run, 0, job.dir), str(data))[1]

    _legacy_run(job.dir, old, str(old_model), str(old_data))
    assert verdict() is None, "moved checkout, same files: the finished run counts"
    assert verdict(replace(now, config={**now.config, "lr0": 0.02})).startswith("stale"), "a setting changed"
    (tmp_path / "new" / "datasets" / "set2").mkdir()
    assert verdict(data=tmp_path / "new" / "datasets" / "set2" / "d.yaml").startswith("stale"), "other data"
    new_model.write_text("nc: 5\n")
    assert verdict().startswith("stale"), "the model YAML differs from the one the run trained"
    new_model.write_text("nc: 1\n")
    import shutil

    shutil.rmtree(tmp_path / "old")  # the old checkout is gone: its recorded location is all that can be compared
    assert verdict() is None
    (job.dir / "ablate_config.json").unlink()
    assert verdict().startswith("stale"), "no record of the paths the run used: cannot be vouched for"
    # a run finished by this version records the version and is matched on the location-independent hash
    (job.dir / "done.json").write_text(json.dumps({"fingerprint": now.fingerprint(str(new_data)),
                                                   "fingerprint_version": 2}))
    assert verdict() is None


def test_bundled_plans_are_valid():
    quick = load_plan(ROOT / "data" / "ablations" / "quick.yaml")
    assert len(quick.runs) >= 2 and quick.base["epochs"] == 1
    study = load_plan(ROOT / "data" / "ablations" / "study.yaml", check_files=False)
    cfg = {r.name: r.config for r in study.runs}
    assert study.data == "synth" and study.baseline.name == "yolov5" and study.seeds == 3
    assigners = {c.get("assigner", "yolov5") for c in cfg.values()}
    assert {"yolov5", "distance", "radius", "yolov5+ignore", "yolov5+dedup", "yolov5+recover"} <= assigners
    assert {c.get("dedup_mode") for c in cfg.values() if c.get("assigner") == "yolov5+dedup"} == {"unique", "iou"}
    assert {"focal", "qfl", "vfl"} <= {c.get("obj_loss") for c in cfg.values()}
    assert any(c.get("ohem") for c in cfg.values())
    models = {Path(c["model"]).name for c in cfg.values()}
    assert models == {"face-vgg-fpn.yaml", "face-vgg-fpn-3a.yaml"}
    best = cfg["best"]  # assignment and loss together: a combined assigner plus a changed objectness loss or gain
    assert "+" in best["assigner"] and (best.get("obj_loss", "bce") != "bce" or best.get("adapt_obj_gain"))
    search = load_plan(ROOT / "data" / "ablations" / "best-search.yaml", check_files=False)
    assert search.base == study.base and search.data == study.data  # candidates chosen on the study's budget
    assert best in [r.config for r in search.runs]  # the reported best is one of the held-out-seed candidates
    if (ROOT / "models" / "face-vgg-fpn.yaml").is_file() and (ROOT / "models" / "face-vgg-fpn-3a.yaml").is_file():
        load_plan(ROOT / "data" / "ablations" / "study.yaml")  # the model files resolve too


def test_best_v2_search_uses_study_v2s_budget_and_its_reference_is_studys_best():
    v2 = load_plan(ROOT / "data" / "ablations" / "study-v2.yaml")
    search = load_plan(ROOT / "data" / "ablations" / "best-v2-search.yaml")
    assert search.base == v2.base and search.data == v2.data and search.seeds == 2
    by_name = {r.name: r for r in v2.runs}
    assert search.baseline.config == by_name["best"].config  # the reference is the reported best, unchanged
    fps = {r.fingerprint("d.yaml") for r in search.runs}
    assert len(fps) == len(search.runs), "every candidate is a different configuration"
    assert all(r.config.get("adapt_obj_gain") for r in search.runs), "all keep the balanced gain (claim 1)"


# ---------------------------------------------------------------- collection from a run's own files


def fake_run(run_dir: Path, rows, val=True, wider=None, epochs=None):
    """The files a finished training run leaves: args.yaml, results.csv (rows: (mAP50, mAP50-95, time)),
    optionally wider_ap.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "args.yaml").write_text(yaml.safe_dump({"epochs": epochs or len(rows), "val": val}))
    head = ["epoch", "time", "train/box_loss", MAP50, MAP]
    lines = [",".join(head)] + [f"{i + 1},{t},{0.1},{m50},{m}" for i, (m50, m, t) in enumerate(rows)]
    (run_dir / "results.csv").write_text("\n".join(lines) + "\n")
    if wider is not None:
        (run_dir / "wider_ap.json").write_text(json.dumps({"easy": wider[0], "medium": wider[1], "hard": wider[2],
                                                          "imgsz": 416}))


def test_collect_picks_best_pt_row_and_final_time(tmp_path):
    rows = [(0.30, 0.10, 10.0), (0.50, 0.25, 20.0), (0.60, 0.25, 30.0), (0.55, 0.20, 41.5)]
    fake_run(tmp_path / "v", rows, val=True, wider=(0.9, 0.8, 0.5))
    m = collect_run(tmp_path / "v", expect_wider=True)
    # val: true -> best.pt is the FIRST epoch with the highest mAP50-95 (ultralytics keeps it on a strict '>')
    assert (m["mAP50"], m["mAP50-95"], m["best_epoch"]) == (0.50, 0.25, 2)
    assert (m["train_time_s"], m["epochs"]) == (41.5, 4)
    assert (m["easy"], m["medium"], m["hard"]) == (0.9, 0.8, 0.5)
    fake_run(tmp_path / "nv", rows, val=False)
    m = collect_run(tmp_path / "nv", expect_wider=False)  # val: false -> only the final epoch is validated
    assert (m["mAP50"], m["mAP50-95"], m["best_epoch"]) == (0.55, 0.20, 4)
    assert all(math.isnan(m[k]) for k in ("easy", "medium", "hard"))  # not applicable, never 0


@pytest.mark.parametrize("damage, reason", [
    (lambda d: (d / "results.csv").unlink(), "results.csv missing"),
    (lambda d: (d / "results.csv").write_text("epoch,time\n"), "columns"),
    (lambda d: (d / "results.csv").write_text((d / "results.csv").read_text().replace("0.25", "oops")), "oops"),
    (lambda d: (d / "results.csv").write_text((d / "results.csv").read_text() + "3,1.0\n"), "fields"),
    (lambda d: (d / "results.csv").write_text((d / "results.csv").read_text().replace("0.25", "nan")), "not finite"),
    (lambda d: (d / "wider_ap.json").unlink(), "wider_ap.json missing"),
    (lambda d: (d / "wider_ap.json").write_text("{"), "wider_ap.json unreadable"),
    (lambda d: (d / "wider_ap.json").write_text('{"easy": 0.9, "medium": 1.7, "hard": 0.1}'), "medium"),
    (lambda d: (d / "args.yaml").write_text("epochs: 5\nval: true\n"), "2 epochs, args.yaml asks for 5"),
])
def test_collect_rejects_missing_or_corrupt_files(tmp_path, damage, reason):
    fake_run(tmp_path / "r", [(0.3, 0.1, 5.0), (0.5, 0.25, 9.0)], wider=(0.9, 0.8, 0.5))
    damage(tmp_path / "r")
    with pytest.raises(RunResultError, match=reason):
        collect_run(tmp_path / "r", expect_wider=True)


# ---------------------------------------------------------------- aggregation and failure reporting


def finished(job, data_yaml, rows, wall, wider=None, val=True):
    fake_run(job.dir, rows, val=val, wider=wider)
    (job.dir / "done.json").write_text(json.dumps({"fingerprint": job.run.fingerprint(data_yaml), "wall_s": wall}))


def test_mean_std_matches_statistics_module():
    xs = [0.61, 0.58, 0.66]
    assert mean_std(xs) == pytest.approx((statistics.mean(xs), statistics.stdev(xs)), rel=1e-12)
    m, s = mean_std([0.5])
    assert m == 0.5 and math.isnan(s)
    assert all(math.isnan(v) for v in mean_std([]) + mean_std([0.5, math.nan]))


def test_aggregate_reports_failures_and_averages_only_good_runs(tmp_path):
    plan = load_plan(write_plan(tmp_path, two_runs()))
    data, out = tmp_path / "wider.yaml", tmp_path / "out"
    data.write_text("path: .\ntrain: t\nval: v\nnames: {0: face}\nwiderface: {gt_dir: g, val_images: v}\n")
    data = str(data)  # WIDER-format data: every run must report easy/medium/hard
    jobs = {j.label: j for j in make_jobs(plan, 3, out)}
    assert list(jobs) == ["a-s0", "b-s0", "a-s1", "b-s1", "a-s2", "b-s2"]  # seed-major
    wider = {"a-s0": (.90, .80, .40), "a-s1": (.92, .83, .44), "a-s2": (.91, .79, .45), "b-s0": (.93, .85, .50),
             "b-s1": (.10, .10, .10), "b-s2": (.11, .11, .11)}
    for label, j in jobs.items():
        k = int(label[-1])
        finished(j, data, [(0.2, 0.1, 10.0), (0.5 + k / 100, 0.3 + k / 100, 60.0 + k)], 70.0 + k, wider[label])
    (jobs["b-s1"].dir / "results.csv").write_text("epoch,time,metrics/mAP50(B),metrics/mAP50-95(B)\n1,x,0.9,0.9\n")
    (jobs["b-s2"].dir / "done.json").unlink()  # interrupted run: files present, no completion marker
    agg = aggregate(plan, out, 3, data)
    a, b = agg.configs
    assert (a.n, b.n, b.seeds_ok) == (3, 1, [0])
    failed = {(r, s): why for r, s, why in agg.failures}
    assert set(failed) == {("b", 1), ("b", 2)}
    assert "results.csv line 2" in failed[("b", 1)] and "no done.json" in failed[("b", 2)]
    # independent recomputation from the numbers written above
    assert a.mean["hard"] == pytest.approx(statistics.mean([.40, .44, .45]))
    assert a.std["hard"] == pytest.approx(statistics.stdev([.40, .44, .45]))
    assert a.mean["mAP50"] == pytest.approx(statistics.mean([.50, .51, .52]))
    assert a.mean["train_time_s"] == pytest.approx(61.0) and a.mean["wall_s"] == pytest.approx(71.0)
    assert b.mean["hard"] == pytest.approx(.50) and math.isnan(b.std["hard"])  # the corrupt 0.10/0.11 never enter
    assert b.delta["hard"] == pytest.approx(.50 - statistics.mean([.40, .44, .45]))
    md = markdown(agg, "python -m yolo_ext.ablate --plan p.yaml --seeds 3")
    assert "| b | 1/3 |" in md and "| a (baseline) | 3/3 |" in md
    assert "| b | s0 +10.0 | +10.0 | 1/1 |" in md  # paired hard AP: only seed 0 finished for both
    assert f"{100 * a.mean['hard']:.1f} ± {100 * a.std['hard']:.1f}" in md
    assert "`b` seed 1: result unreadable: results.csv line 2" in md and "`b` seed 2: incomplete" in md
    assert "--plan p.yaml --seeds 3" in md and "Machine:" in md
    rows = {r["configuration"]: r for r in csv.DictReader(summary_csv(agg).splitlines())}
    assert rows["b"]["n"] == "1" and float(rows["b"]["hard_mean"]) == pytest.approx(.50)
    assert rows["b"]["hard_std"] == "NA" and float(rows["a"]["easy_mean"]) == pytest.approx(.91)


def test_seed_start_selects_held_out_seeds(tmp_path):
    """--seed-start K: jobs, aggregation and the report use seeds K..K+N-1 only (not 0..N-1)."""
    plan = load_plan(write_plan(tmp_path, two_runs()))
    out = tmp_path / "out"
    assert [j.label for j in make_jobs(plan, 2, out, 100)] == ["a-s100", "b-s100", "a-s101", "b-s101"]
    for j in make_jobs(plan, 1, out):  # seed 0 finished with a different value: must not enter the held-out mean
        finished(j, "d.yaml", [(0.9, 0.5, 5.0)], 6.0)
    m50 = {"a-s100": 0.20, "a-s101": 0.30, "b-s100": 0.26, "b-s101": 0.28}
    for j in make_jobs(plan, 2, out, 100):
        finished(j, "d.yaml", [(m50[j.label], 0.1, 5.0)], 6.0)
    agg = aggregate(plan, out, 2, "d.yaml", seed_start=100)
    assert [c.seeds_ok for c in agg.configs] == [[100, 101], [100, 101]] and not agg.failures
    assert agg.configs[0].mean["mAP50"] == pytest.approx(0.25)
    md = markdown(agg, "cmd")
    assert "- Seeds: 2 (100..101)" in md
    # paired by seed (no WIDER data -> mAP50): b - a = +6.0 and -2.0 points, mean +2.0, std sqrt(32) = 5.7, 1 of 2
    assert [(s, round(v, 6)) for s, v in agg.configs[1].paired["mAP50"]] == [(100, 0.06), (101, -0.02)]
    assert "| b | s100 +6.0, s101 -2.0 | +2.0 ± 5.7 | 1/2 |" in md
    row = {r["configuration"]: r for r in csv.DictReader(summary_csv(agg).splitlines())}["b"]
    assert row["mAP50_seeds_better"] == "1" and float(row["mAP50_paired_std"]) == pytest.approx(0.08 / 2 ** 0.5)


def test_changed_configuration_is_stale_not_reused(tmp_path):
    p = write_plan(tmp_path, two_runs())
    plan = load_plan(p)
    job = make_jobs(plan, 1, tmp_path / "out")[1]
    finished(job, "d.yaml", [(0.5, 0.3, 10.0)], 12.0)
    assert runner_mod.check_done(job, "d.yaml")[0] is not None
    runs = two_runs()
    runs[1]["overrides"]["obj_loss"] = "qfl"
    job2 = make_jobs(load_plan(write_plan(tmp_path, runs, name="p2.yaml")), 1, tmp_path / "out")[1]
    metrics, why = runner_mod.check_done(job2, "d.yaml")
    assert metrics is None and why.startswith("stale")


def test_report_without_wider_data_shows_na_not_zero(tmp_path):
    data = make_tiny_dataset(tmp_path / "d", n_train=1, n_val=1, size=32)  # plain YOLO yaml: no widerface section
    plan = load_plan(write_plan(tmp_path, two_runs()))
    for j in make_jobs(plan, 2, tmp_path / "out"):
        finished(j, str(data), [(0.4 + j.seed / 10, 0.2, 5.0)], 6.0)
    with foreign_backend() as backend:
        files = write_report(aggregate(plan, tmp_path / "out", 2, str(data)), tmp_path / "out", "cmd")
        assert matplotlib.get_backend() == backend  # the bar chart draws without switching the caller's backend
    md = files["md"].read_text()
    assert "WIDER easy/medium/hard AP: n/a" in md and "Hard AP" not in md and "| a (baseline) | 2/2 | 45.0 ± 7.1" in md
    rows = list(csv.DictReader(files["csv"].read_text().splitlines()))
    assert {r["hard_mean"] for r in rows} == {"NA"}
    assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "out").glob(".*.tmp")), "temporary files left behind"


def test_tiny_blob_dataset_is_valid_yolo(tmp_path):
    y = ensure_tiny_dataset("blobs", cache=tmp_path)
    cfg = yaml.safe_load(y.read_text())
    assert "widerface" not in cfg and ensure_tiny_dataset("blobs", cache=tmp_path) == y  # cached
    labels = sorted((Path(cfg["path"]) / "labels" / "train").glob("*.txt"))
    assert len(labels) == 16 and len(list((Path(cfg["path"]) / "images" / "val").glob("*.jpg"))) == 8
    for f in labels:
        for row in f.read_text().split("\n")[:-1]:
            c, *box = row.split()
            x, y_, w, h = map(float, box)
            assert c == "0" and 0 < w <= 0.45 and 0 < h <= 0.45 and w / 2 <= x <= 1 - w / 2 and h / 2 <= y_ <= 1 - h / 2


def test_run_plan_records_failures_and_retries_them(tmp_path, monkeypatch):
    """Runner bookkeeping with a fake worker: 'a' leaves good files, 'b' crashes, then 'b' leaves corrupt files."""
    plan = load_plan(write_plan(tmp_path, two_runs()))
    out, calls, lines = tmp_path / "out", [], []
    behaviour = {"b": "crash"}

    def fake_launch(cmd, log_path, env, cwd, timeout=None, stream=False):
        ov = json.loads(Path(cmd[-1]).read_text())
        run_dir = Path(ov["project"]) / ov["name"]
        calls.append((ov["name"], ov["seed"], ov["assigner"], ov["exist_ok"]))
        assert cmd[1:3] == ["-m", "yolo_ext.ablate.worker"] and env["YOLO_OFFLINE"] == "1"
        what = behaviour.get(ov["name"][0], "ok")
        if what == "crash":
            log_path.write_text("Traceback ...\nRuntimeError: out of memory\n")
            return 1
        fake_run(run_dir, [(0.40, 0.2, 3.0)] if what == "ok" else [(0.40, "x", 3.0)])
        return 0

    monkeypatch.setattr(runner_mod, "launch", fake_launch)
    s = runner_mod.run_plan(plan, out, 1, "d.yaml", log=lines.append)
    assert calls == [("a-s0", 0, "yolov5", True), ("b-s0", 0, "radius", True)]
    assert s["launched"] == ["a-s0", "b-s0"] and list(s["failed"]) == ["b-s0"] and "status 1" in s["failed"]["b-s0"]
    assert any(ln.startswith("[2/2] b seed 0: FAILED") and "ETA" in ln for ln in lines), lines
    assert "out of memory" in "\n".join(lines)  # the log tail is shown
    assert json.loads((out / "runs" / "b-s0" / "failed.json").read_text())["returncode"] == 1
    assert json.loads((out / "runs" / "a-s0" / "done.json").read_text())["metrics"]["mAP50"] == 0.40
    behaviour["b"] = "corrupt"
    s = runner_mod.run_plan(plan, out, 1, "d.yaml", log=lines.append)
    assert s["skipped"] == ["a-s0"] and s["launched"] == ["b-s0"] and "not a number" in s["failed"]["b-s0"]
    agg = aggregate(plan, out, 1, "d.yaml")
    assert [c.n for c in agg.configs] == [1, 0] and math.isnan(agg.configs[1].mean["mAP50"])
    assert agg.failures[0][:2] == ("b", 0) and "not a number" in agg.failures[0][2]


# ---------------------------------------------------------------- end to end: train, resume, restart


@pytest.mark.slow
def test_two_config_plan_trains_resumes_and_aggregates_run_files(tmp_path, monkeypatch):
    data = make_tiny_dataset(tmp_path / "data")
    base = {"model": "yolov5n-1a.yaml", "epochs": 1, "imgsz": 64, "batch": 4, "device": "cpu", "workers": 0,
            "plots": False}
    plan_path = write_plan(tmp_path, two_runs(), base=base, data=str(data))
    out = tmp_path / "out"
    launched = []
    real_launch = runner_mod.launch

    def counting_launch(cmd, *a, **k):
        launched.append(Path(cmd[-1]).parent.name)
        return real_launch(cmd, *a, **k)

    monkeypatch.setattr(runner_mod, "launch", counting_launch)
    argv = ["--plan", str(plan_path), "--seeds", "1", "--out", str(out)]
    assert main(argv) == 0
    assert launched == ["a-s0", "b-s0"]
    runs = {n: out / "runs" / f"{n}-s0" for n in ("a", "b")}
    stamps = {n: ((d / "done.json").stat().st_mtime_ns, (d / "results.csv").stat().st_mtime_ns)
              for n, d in runs.items()}

    # the table holds the runs' own numbers: recompute them from each results.csv here
    table = {r["configuration"]: r for r in csv.DictReader((out / "results.csv").read_text().splitlines())}
    for n, d in runs.items():
        with open(d / "results.csv") as f:
            rows = [{k.strip(): float(v) for k, v in r.items()} for r in csv.DictReader(f)]
        assert len(rows) == 1 and float(table[n]["mAP50_mean"]) == rows[0][MAP50]
        assert float(table[n]["mAP50-95_mean"]) == rows[0][MAP]
        assert float(table[n]["train_time_s_mean"]) == rows[0]["time"]
        assert table[n]["n"] == "1" and table[n]["hard_mean"] == "NA"
        assert yaml.safe_load((d / "args.yaml").read_text())["assigner"] == {"a": "yolov5", "b": "radius"}[n]
        assert json.loads((d / "done.json").read_text())["metrics"]["mAP50"] == rows[0][MAP50]
    assert "| b | 1/1 |" in (out / "results.md").read_text()

    # rerun: everything finished, nothing is retrained or rewritten
    assert main(argv) == 0
    assert launched == ["a-s0", "b-s0"]
    assert stamps == {n: ((d / "done.json").stat().st_mtime_ns, (d / "results.csv").stat().st_mtime_ns)
                      for n, d in runs.items()}

    # an interrupted run (no done.json) is wiped and trained again from scratch; the other one is kept
    (runs["b"] / "done.json").unlink()
    (runs["b"] / "leftover.txt").write_text("from the interrupted attempt")
    assert main(argv) == 0
    assert launched == ["a-s0", "b-s0", "b-s0"]
    assert not (runs["b"] / "leftover.txt").exists() and (runs["b"] / "done.json").is_file()
    assert (runs["a"] / "done.json").stat().st_mtime_ns == stamps["a"][0]

    # --records: the finished runs are recorded (real weights: positives per face known); a run whose directory
    # is then lost is not retrained, and the table still holds its numbers, read from the record
    records = tmp_path / "records.jsonl"
    assert main([*argv, "--records", str(records)]) == 0
    assert launched == ["a-s0", "b-s0", "b-s0"]
    recs = {json.loads(ln)["run"]: json.loads(ln) for ln in records.read_text().splitlines()}
    assert set(recs) == {"a", "b"} and recs["b"]["evidence"]["positives_per_face"] > 0
    table = (out / "results.csv").read_text()
    import shutil
    shutil.rmtree(runs["b"])
    assert main([*argv, "--records", str(records)]) == 0
    assert launched == ["a-s0", "b-s0", "b-s0"] and not runs["b"].exists()
    assert (out / "results.csv").read_text() == table  # the same numbers, now from the record
    assert main(argv) == 0 and launched[-1] == "b-s0"  # without --records the run is trained again
