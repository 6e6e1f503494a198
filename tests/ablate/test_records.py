"""Run records (yolo_ext/ablate/records.py): what a sweep measured survives its run directories.

The records file is read back exactly as written, hostile lines are named by file and line, a record counts only
for the row whose current fingerprint it carries, the sweep skips recorded runs and records the ones it finishes,
and the claims report counts records where the run directory is gone and re-records nothing it already holds."""

import json
import math
from pathlib import Path

import pytest
import yaml

from yolo_ext.ablate import aggregate, load_plan, make_jobs
from yolo_ext.ablate import records as rec_mod
from yolo_ext.ablate import runner as runner_mod
from yolo_ext.ablate.claims import load_tier, save_records
from yolo_ext.ablate.records import (FROM_RUN, RecordsError, matching, read_records, update_records,
                                     write_records)

MAP50, MAP = "metrics/mAP50(B)", "metrics/mAP50-95(B)"


def _plan(tmp_path, assigner_b="radius") -> Path:
    (tmp_path / "d.yaml").write_text("path: .\ntrain: t\nval: v\nnames: {0: face}\n")  # not WIDER-format
    plan = {"name": "t", "data": str(tmp_path / "d.yaml"), "base": {"model": "yolov5n-1a.yaml", "epochs": 1},
            "runs": [{"name": "a", "overrides": {"assigner": "yolov5"}},
                     {"name": "b", "overrides": {"assigner": assigner_b}}]}
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(plan, sort_keys=False))
    return p


def _record(run, seed, fp, hard=0.5, **extra):
    return {"run": run, "seed": seed, "fingerprint": fp, "fingerprint_version": 2,
            "metrics": {"easy": 0.9, "medium": 0.7, "hard": hard, "mAP50": None}, "wall_s": 12.5,
            "finished": None, "env": None, "evidence": None, "sizes": None, "origin": "test", **extra}


def _fake_run(run_dir: Path, fp: str, map50=0.40, finished="2026-12-02T07:00:00"):
    """The files a finished training run leaves, plus the runner's done.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "args.yaml").write_text(yaml.safe_dump({"epochs": 1, "val": True}))
    (run_dir / "results.csv").write_text(f"epoch,time,{MAP50},{MAP},train/box_obj_ratio,train/obj_gain_scale\n"
                                         f"1,3.0,{map50},0.2,0.55,6.5\n")
    (run_dir / "train.log").write_text("epoch stats: positives=5460, targets=1000, box_obj_ratio=0.55\n")
    (run_dir / "done.json").write_text(json.dumps({"fingerprint": fp, "fingerprint_version": 2, "wall_s": 40.0,
                                                   "finished": finished, "env": {"host": "h"}}))


def test_round_trip_is_exact_sorted_and_writes_null_for_not_a_number(tmp_path):
    path = tmp_path / "r.jsonl"
    recs = {("b", 1): _record("b", 1, "0" * 16, hard=0.1 + 0.2), ("a", 0): _record("a", 0, "f" * 16)}
    write_records(path, recs)
    lines = path.read_text().splitlines()
    assert [json.loads(ln)["run"] for ln in lines] == ["a", "b"]  # sorted by (run, seed): stable diffs
    back = read_records(path)
    assert back == recs and back[("b", 1)]["metrics"]["hard"] == 0.1 + 0.2  # repr-exact
    first = path.read_bytes()
    assert update_records(path, {("a", 0): recs[("a", 0)]}) is False and path.read_bytes() == first
    assert update_records(path, {("a", 0): _record("a", 0, "f" * 16, hard=0.25)}) is True
    assert read_records(path)[("a", 0)]["metrics"]["hard"] == 0.25 and ("b", 1) in read_records(path)
    assert read_records(tmp_path / "none.jsonl") == {}
    with pytest.raises(RecordsError, match="is not a file"):
        read_records(tmp_path)
    assert rec_mod._json_num(math.nan) is None and rec_mod._json_num(math.inf) is None
    assert math.isnan(rec_mod.metrics_of(recs[("a", 0)])["mAP50"])  # null reads back as NaN, never as 0


@pytest.mark.parametrize("line, words", [
    ("{not json", ["r.jsonl:2", "not JSON"]),
    ("[1, 2]", ["r.jsonl:2", "JSON object"]),
    ('{"run": "a", "seed": 0, "metrics": {}}', ["r.jsonl:2", "missing", "fingerprint"]),
    (json.dumps({**_record("a", 0, "f" * 16), "colour": 1}), ["r.jsonl:2", "unknown key", "colour"]),
    (json.dumps(_record("a", True, "f" * 16)), ["r.jsonl:2", "'seed' an integer"]),
    (json.dumps(_record("a", 0, "xyz")), ["r.jsonl:2", "16 hex digits", "xyz"]),
    (json.dumps(_record("a", 0, "f" * 16, hard=1.5)), ["r.jsonl:2", "metrics.hard = 1.5", "[0, 1]"]),
    (json.dumps({**_record("a", 0, "f" * 16), "metrics": {"easy": 0.5}}), ["r.jsonl:2", "easy, medium and hard"]),
    (json.dumps(_record("b", 3, "f" * 16)), ["r.jsonl:2", "b seed 3 is recorded twice"]),
    (json.dumps(_record("a", 0, "f" * 16, evidence=[1])), ["r.jsonl:2", "'evidence' must be null or an object"]),
    (json.dumps(_record("a", 0, "f" * 16, wall_s="long")), ["r.jsonl:2", "wall_s = 'long'"]),
    (json.dumps(_record("a", 0, "f" * 16, sizes={"edges": [8], "buckets": [{"label": "< 8", "faces": 50}]})),
     ["r.jsonl:2", "'sizes' must be null or"]),
])
def test_hostile_lines_are_named_by_file_and_line(tmp_path, line, words):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(_record("b", 3, "f" * 16)) + "\n" + line + "\n")
    with pytest.raises(RecordsError) as e:
        read_records(path)
    for w in words:
        assert w in str(e.value)


def test_a_record_counts_only_for_the_rows_current_fingerprint(tmp_path):
    plan = load_plan(_plan(tmp_path))
    data = plan.data
    fa = plan.runs[0].fingerprint(data)
    recs = {("a", 0): _record("a", 0, fa), ("b", 0): _record("b", 0, "0" * 16), ("gone", 0): _record("gone", 0, fa)}
    ok, stale = matching(recs, plan, data)
    assert list(ok) == [("a", 0)] and stale == [("b", 0)]  # a row not in the plan is neither
    # the same record is stale once the row's settings change
    changed = load_plan(_plan(tmp_path, assigner_b="distance"))
    assert ("b", 0) in matching({("b", 0): _record("b", 0, plan.runs[1].fingerprint(data))}, changed, data)[1]


def test_run_plan_skips_recorded_runs_and_records_what_it_finishes(tmp_path, monkeypatch):
    plan = load_plan(_plan(tmp_path))
    data = plan.data
    out, path, launched, lines = tmp_path / "out", tmp_path / "docs" / "r.jsonl", [], []
    fps = {r.name: r.fingerprint(data) for r in plan.runs}
    write_records(path, {("a", 0): _record("a", 0, fps["a"]), ("b", 1): _record("b", 1, "0" * 16)})

    def fake_launch(cmd, log_path, env, cwd, timeout=None, stream=False):
        ov = json.loads(Path(cmd[-1]).read_text())
        launched.append(ov["name"])
        _fake_run(Path(ov["project"]) / ov["name"], "ignored")  # the runner writes its own done.json after
        return 0

    monkeypatch.setattr(runner_mod, "launch", fake_launch)
    s = runner_mod.run_plan(plan, out, 2, data, log=lines.append, records=path)
    # a-s0 is recorded with the current fingerprint: not trained, although it has no run directory;
    # b-s1's record is stale (other settings): trained
    assert launched == ["b-s0", "a-s1", "b-s1"] and s["skipped"] == ["a-s0"]
    assert not (out / "runs" / "a-s0").exists()
    assert any("1 record(s)" in ln and "stale" in ln and "b-s1" in ln for ln in lines)
    assert any("a seed 0: finished earlier (recorded in" in ln for ln in lines)
    back = read_records(path)
    assert back[("a", 0)] == _record("a", 0, fps["a"])  # untouched
    b1 = back[("b", 1)]
    assert b1["fingerprint"] == fps["b"] and b1["origin"] == FROM_RUN and b1["metrics"]["mAP50"] == 0.40
    assert b1["metrics"]["easy"] is None  # not WIDER-format: null, not 0
    assert b1["evidence"]["box_obj_ratio"] == 0.55 and b1["evidence"]["positives"] == 5460
    assert b1["evidence"]["positives_per_face"] is None  # fake run: no weights
    assert b1["wall_s"] == json.loads((out / "runs" / "b-s1" / "done.json").read_text())["wall_s"]
    # aggregation counts the record where the directory is missing
    agg = aggregate(plan, out, 2, data, records=matching(back, plan, data)[0])
    a = agg.configs[0]
    assert a.seeds_ok == [0, 1] and a.recorded == {0} and a.values["wall_s"][0] == 12.5 and not agg.failures
    # every "done in" line was logged after its run's record was written (a sweep stopped on that line keeps it)
    (tmp_path / "second").mkdir()
    plan2, path2, seen = load_plan(_plan(tmp_path / "second")), tmp_path / "second" / "r.jsonl", []

    def check_log(line):
        if ": done in " in line:
            name, seed = line.split("] ", 1)[1].split(":")[0].split(" seed ")
            seen.append((name, int(seed)) in read_records(path2))
    runner_mod.run_plan(plan2, tmp_path / "second" / "out", 1, plan2.data, log=check_log, records=path2)
    assert seen == [True, True]
    # rerun: nothing trained, nothing rewritten
    before = path.read_bytes()
    s = runner_mod.run_plan(plan, out, 2, data, log=lines.append, records=path)
    assert s["launched"] == [] and path.read_bytes() == before


def test_a_bad_records_file_stops_the_sweep_before_training(tmp_path, monkeypatch):
    plan = load_plan(_plan(tmp_path))
    path = tmp_path / "r.jsonl"
    path.write_text("{broken\n")
    monkeypatch.setattr(runner_mod, "launch", lambda *a, **k: pytest.fail("trained despite a bad records file"))
    with pytest.raises(RecordsError, match="r.jsonl:1"):
        runner_mod.run_plan(plan, tmp_path / "out", 1, plan.data, log=lambda s: None, records=path)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(RecordsError, match="cannot write the records file"):  # its folder cannot be made
        runner_mod.run_plan(plan, tmp_path / "out", 1, plan.data, log=lambda s: None,
                            records=tmp_path / "a-file" / "r.jsonl")


def test_claims_tier_uses_records_for_lost_runs_and_records_the_rest_once(tmp_path, monkeypatch):
    plan_path = _plan(tmp_path)
    plan = load_plan(plan_path)
    data = plan.data
    fps = {r.name: r.fingerprint(data) for r in plan.runs}
    jobs = {j.label: j for j in make_jobs(plan, 1, tmp_path / "out")}
    _fake_run(jobs["a-s0"].dir, fps["a"])
    path = tmp_path / "r.jsonl"
    write_records(path, {("b", 0): _record("b", 0, fps["b"], hard=0.3)})
    spec = {"name": "t", "plan": "p.yaml", "out": "out", "records": "r.jsonl"}
    calls = []
    real = rec_mod.balance_evidence
    monkeypatch.setattr(rec_mod, "balance_evidence", lambda d, **k: calls.append(d) or real(d, positives=False))
    tier = load_tier(spec, tmp_path, seeds=1, log=lambda s: None)
    assert tier.source == {("a", 0): "run", ("b", 0): "record"}
    assert tier.machines == {("a", 0): "unknown CPU (instruction set not recorded)", ("b", 0): None}
    assert tier.values["b"][0]["hard"] == 0.3 and tier.walls == {("a", 0): 40.0, ("b", 0): 12.5}
    assert tier.evidence[("a", 0)]["box_obj_ratio"] == 0.55 and ("b", 0) not in tier.evidence
    assert save_records(tier) is True
    assert read_records(path)[("a", 0)]["origin"] == FROM_RUN and len(calls) == 1
    # again: the run directory is already recorded (same fingerprint and finish time): nothing recomputed
    tier = load_tier(spec, tmp_path, seeds=1, log=lambda s: None)
    assert len(calls) == 1 and save_records(tier) is False
    # the run directory goes: its record takes over, with the evidence it carried
    import shutil
    shutil.rmtree(jobs["a-s0"].dir)
    tier = load_tier(spec, tmp_path, seeds=1, log=lambda s: None)
    assert tier.source[("a", 0)] == "record" and tier.evidence[("a", 0)]["box_obj_ratio"] == 0.55
    assert tier.values["a"][0]["mAP50"] == 0.40


def test_committed_records_read_back_and_match_their_tiers_plans():
    """Every record in docs/records/ belongs to a row of its tier's plan with that row's current settings: a plan
    edit that would silently orphan the study's results fails here."""
    from helpers import ROOT
    from yolo_ext.ablate.claims import load_claims
    from yolo_ext.ablate.tinydata import resolve_plan_data

    specs, _ = load_claims(ROOT / "data/ablations/claims.yaml")
    with_records = [s for s in specs if s.get("records")]
    assert with_records, "the study's tiers keep records"
    for s in with_records:
        recs = read_records(ROOT / s["records"])
        plan = load_plan(ROOT / s["plan"])
        ok, stale = matching(recs, plan, resolve_plan_data(plan.data))
        assert not stale and len(ok) == len(recs), (s["records"], stale, set(recs) - set(ok))
        assert all(0 <= seed < 3 for _, seed in recs)


def test_aggregate_only_records_what_has_finished(tmp_path, monkeypatch):
    """``--aggregate-only --records``: tabulating a sweep (perhaps still running) also records its finished runs."""
    from yolo_ext.cli.ablate import main

    plan_path = _plan(tmp_path)
    plan = load_plan(plan_path)
    jobs = {j.label: j for j in make_jobs(plan, 1, tmp_path / "out")}
    _fake_run(jobs["a-s0"].dir, plan.runs[0].fingerprint(plan.data))
    monkeypatch.setattr(runner_mod, "launch", lambda *a, **k: pytest.fail("--aggregate-only trained"))
    path = tmp_path / "r.jsonl"
    argv = ["--plan", str(plan_path), "--seeds", "1", "--out", str(tmp_path / "out"), "--records", str(path),
            "--aggregate-only"]
    assert main(argv) == 1  # b-s0 has not run
    assert list(read_records(path)) == [("a", 0)] and read_records(path)[("a", 0)]["metrics"]["epochs"] == 1


def test_history_seeds_are_recorded_so_the_tiers_sweep_does_not_train_them(tmp_path, monkeypatch):
    """A tier's history (an earlier study's CSV, rows with identical settings) goes into its records file, marked
    as history, so that the documented sweep of the tier's plan skips those runs instead of training them again,
    and the report still labels them history and leaves them out of the tier's compute."""
    plan_path = _plan(tmp_path)
    (tmp_path / "old.yaml").write_text(plan_path.read_text())  # same settings: a and b count
    (tmp_path / "hist.csv").write_text("configuration,seed,status,reason,easy,medium,hard,mAP50,mAP50-95,"
                                       "train_time_s,wall_s\n"
                                       "a,0,ok,,0.6,0.5,0.25,0.2,0.1,100.0,130.5\n"
                                       "b,0,failed,boom,,,,,,,\n"
                                       "a,5,ok,,0.6,0.5,0.25,0.2,0.1,100.0,130.5\n")  # seed beyond the tier's
    spec = {"name": "t", "plan": "p.yaml", "out": "out", "records": "r.jsonl",
            "history": {"plan": "old.yaml", "runs": "hist.csv"}}
    tier = load_tier(spec, tmp_path, seeds=2, log=lambda s: None)
    assert tier.source == {("a", 0): "history"} and tier.walls == {}
    assert save_records(tier) is True
    rec = read_records(tmp_path / "r.jsonl")
    assert set(rec) == {("a", 0)}  # the failed b seed and seed 5 are not history of this tier
    r = rec[("a", 0)]
    plan = load_plan(plan_path)
    assert r["fingerprint"] == plan.runs[0].fingerprint(plan.data) and r["origin"].startswith("history: hist.csv")
    assert r["metrics"]["hard"] == 0.25 and r["metrics"]["train_time_s"] == 100.0 and r["wall_s"] == 130.5
    assert r["metrics"]["epochs"] is None and r["evidence"] is None  # nothing the CSV did not say
    # read back: still history (not a v2 record), its wall time still not this tier's compute
    tier = load_tier(spec, tmp_path, seeds=2, log=lambda s: None)
    assert tier.source == {("a", 0): "history"} and tier.walls == {} and tier.values["a"][0]["hard"] == 0.25
    assert save_records(tier) is False
    # the tier's sweep, as documented (plan + records), trains everything but the history run
    launched = []

    def fake_launch(cmd, log_path, env, cwd, timeout=None, stream=False):
        ov = json.loads(Path(cmd[-1]).read_text())
        launched.append(ov["name"])
        _fake_run(Path(ov["project"]) / ov["name"], "ignored")
        return 0

    monkeypatch.setattr(runner_mod, "launch", fake_launch)
    s = runner_mod.run_plan(plan, tmp_path / "out", 2, plan.data, log=lambda s: None, records=tmp_path / "r.jsonl")
    assert s["skipped"] == ["a-s0"] and launched == ["b-s0", "a-s1", "b-s1"]


def test_committed_history_is_recorded_in_the_broad_tiers_records():
    """Every first-study run that counts for the broad tier is in its records file, so the tier command printed in
    the docs does not retrain it (it did before: the runner did not know the history CSV)."""
    from helpers import ROOT
    from yolo_ext.ablate.claims import _history, is_history, load_claims
    from yolo_ext.ablate.tinydata import resolve_plan_data

    specs, _ = load_claims(ROOT / "data/ablations/claims.yaml")
    spec = next(s for s in specs if s.get("history"))
    plan = load_plan(ROOT / spec["plan"])
    hist = _history(spec["history"], plan, resolve_plan_data(plan.data), ROOT)
    recs = read_records(ROOT / spec["records"])
    want = {(r, s) for r, by in hist.items() for s in by if s < 3}
    assert len(want) > 40
    missing = {k for k in want if k not in recs}
    assert not missing, sorted(missing)
    assert all(is_history(recs[k]) and recs[k]["metrics"]["hard"] == hist[k[0]][k[1]]["hard"]
               for k in want if is_history(recs[k]))
