"""Study tables (docs/ablation.md): values, paired deltas, seed counts and the history table come from the tier and
the per-run CSV, recomputed here by hand; the README block is replaced only between its markers."""


import pytest
import yaml

from yolo_ext.ablate.claims import Tier
from yolo_ext.ablate.study_report import README_END, README_START, compute_used, study_markdown, write_study


def _plan(tmp_path):
    plan = {"name": "p", "data": "unused.yaml", "base": {"model": "yolov5n-1a.yaml", "epochs": 2},
            "runs": [{"name": "base", "baseline": True, "overrides": {"assigner": "yolov5"}},
                     {"name": "a", "overrides": {"adapt_obj_gain": True}},
                     {"name": "b", "overrides": {"obj_loss": "vfl"}}]}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    hist = {**plan, "name": "old", "runs": plan["runs"][:2]}
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(hist, sort_keys=False))
    (tmp_path / "runs.csv").write_text(
        "configuration,seed,status,reason,easy,medium,hard,mAP50,mAP50-95,train_time_s,wall_s\n"
        "base,0,ok,,0.5,0.5,0.30,0.2,0.1,100,110\nbase,1,ok,,0.5,0.5,0.34,0.2,0.1,120,130\n"
        "a,0,ok,,0.6,0.6,0.40,0.2,0.1,90,99\na,1,failed,boom,,,,,,,\n")


def _tier(tmp_path):
    m = lambda h: {"easy": h + 0.2, "medium": h + 0.1, "hard": h}  # noqa: E731
    t = Tier("16 epochs", "p.yaml", 3, "base", "unused.yaml", rows={"base", "a", "b"})
    t.values = {"base": {0: m(0.30), 1: m(0.32), 2: m(0.28)}, "a": {0: m(0.36), 1: m(0.35), 2: m(0.27)},
                "b": {1: m(0.20)}}
    t.source = {("base", 0): "history", ("base", 1): "run", ("base", 2): "run", ("a", 0): "run", ("a", 1): "run",
                ("a", 2): "run", ("b", 1): "run"}
    for i, (row, s) in enumerate([("a", 0), ("a", 1), ("b", 1)]):
        t.walls[(row, s)] = 100.0 * (i + 1)
    t.machines = {("a", 0): "AMD EPYC AVX512", ("a", 1): "AMD EPYC AVX2", ("a", 2): "AMD EPYC AVX512"}
    return t


def test_tables_deltas_counts_and_history(tmp_path):
    _plan(tmp_path)
    spec = {"name": "16 epochs", "plan": "p.yaml", "out": "out", "history": {"plan": "old.yaml", "runs": "runs.csv"}}
    md, png, summary = study_markdown([_tier(tmp_path)], [spec], tmp_path, "cmd", "img/x.png")
    assert png.startswith(b"\x89PNG")
    # a: hard 36/35/27 vs base 30/32/28 -> deltas +6, +3, -1: mean 2.67, sample std 3.51; better in 2 of 3
    assert "| a | 3/3 | 52.7 ± 4.9 | 42.7 ± 4.9 | 32.7 ± 4.9 | +2.7 ± 3.5 | 2/3 | adapt_obj_gain=True |" in md
    assert "| base | 3/3 (1 h) | 50.0 ± 2.0 | 40.0 ± 2.0 | 30.0 ± 2.0 | baseline |  | assigner=yolov5 |" in md
    assert "| b | 1/3 | 40.0 | 30.0 | 20.0 | -12.0 | 0/1 | obj_loss=vfl |" in md  # one seed: no std
    assert "7 of 9 (configuration, seed) results; compute of this tier's own 3 runs: 0.2 h wall" in md
    # history: the earlier plan's rows, its ok seeds only (a's seed 1 failed)
    assert "| base | 2 | 50.0 ± 0.0 | 50.0 ± 0.0 | 32.0 ± 2.8 | 110 s |" in md
    assert "| a | 1 | 60.0 | 60.0 | 40.0 | 90 s |" in md
    assert "2 epochs" in md
    # the summary lists only rows with every seed
    assert summary == ["- **16 epochs** (rows with all 3 seeds, Δ hard AP vs `base`): `a` +2.7 ± 3.5 (2/3)"]


def test_compute_used_counts_own_runs_and_records_not_history(tmp_path):
    t = _tier(tmp_path)
    assert compute_used(t) == (3, 600.0)
    t.source[("b", 1)] = "record"  # a run known from the records file still cost its compute here
    t.walls[("base", 0)] = 999.0  # a history seed is the first study's compute, not this tier's
    assert compute_used(t) == (3, 600.0)
    del t.walls[("a", 1)]  # a record recovered without its wall time
    assert compute_used(t) == (2, 400.0)


def test_machines_line_counts_the_tiers_own_runs_by_machine(tmp_path):
    """Numbers are deterministic per machine, not across CPUs: the tier says where its own runs trained."""
    from yolo_ext.ablate.claims import machine_of
    from yolo_ext.ablate.study_report import machines_used

    t = _tier(tmp_path)
    # base-0 is history (not this tier's run); base-1, base-2 and b-1 have no machine on record
    assert machines_used(t) == "2 on AMD EPYC AVX512, 1 on AMD EPYC AVX2, 3 on not recorded"
    _plan(tmp_path)
    md, _, _ = study_markdown([t], [{"name": "16 epochs", "plan": "p.yaml", "out": "out"}], tmp_path, "cmd", "x.png")
    assert "- Machines (this tier's own runs): 2 on AMD EPYC AVX512, 1 on AMD EPYC AVX2, 3 on not recorded." in md
    assert machine_of(None) is None
    assert machine_of({"cpu": "AMD EPYC", "cpu_capability": "AVX2", "gpu": "none"}) == "AMD EPYC AVX2"
    assert machine_of({"cpu": "AMD EPYC", "gpu": "none"}) == "AMD EPYC (instruction set not recorded)"
    assert machine_of({"cpu": "x", "gpu": "NVIDIA H200"}) == "NVIDIA H200"


def test_readme_block_is_replaced_between_markers_only(tmp_path):
    _plan(tmp_path)
    spec = {"name": "16 epochs", "plan": "p.yaml", "out": "out"}
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold numbers\n{README_END}\nrest\n")
    docs = tmp_path / "docs"
    written = write_study([_tier(tmp_path)], [spec], tmp_path, docs / "ablation.md", "cmd", readme)
    assert written == [docs / "ablation.md", docs / "img" / "ablation.png", docs / "ablation_tiers.csv", readme]
    lines = (docs / "ablation_tiers.csv").read_text().splitlines()
    assert lines[0] == "tier,configuration,seed,source,easy,medium,hard,wall_s,machine"
    assert "16 epochs,a,1,run,0.55,0.44999999999999996,0.35,200.0,AMD EPYC AVX2" in lines  # repr: exact values
    assert "16 epochs,base,0,history,0.5,0.4,0.3,," in lines
    assert len(lines) == 1 + 7
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{README_END}\nrest\n") and "old numbers" not in text
    assert "`a` +2.7 ± 3.5 (2/3)" in text
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="no study summary markers"):
        write_study([_tier(tmp_path)], [spec], tmp_path, docs / "ablation.md", "cmd", readme)
    assert readme.read_text() == "no markers\n"
    (docs / "ablation.md").unlink()
    with pytest.raises(ValueError):
        write_study([_tier(tmp_path)], [spec], tmp_path, docs / "ablation.md", "cmd", readme)
    assert not (docs / "ablation.md").exists(), "the README is checked before anything is written"


def test_refuses_to_overwrite_the_history_csv(tmp_path):
    _plan(tmp_path)
    (tmp_path / "docs").mkdir()
    hist = tmp_path / "docs" / "ablation_tiers.csv"
    hist.write_text("precious\n")
    spec = {"name": "16 epochs", "plan": "p.yaml", "out": "out",
            "history": {"plan": "old.yaml", "runs": "docs/ablation_tiers.csv"}}
    with pytest.raises(ValueError, match="would overwrite the history file"):
        write_study([_tier(tmp_path)], [spec], tmp_path, tmp_path / "docs" / "ablation.md", "cmd")
    assert hist.read_text() == "precious\n" and not (tmp_path / "docs" / "ablation.md").exists()


def test_readme_block_carries_the_verdicts_when_given(tmp_path):
    _plan(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(f"{README_START}\n{README_END}\n")
    write_study([_tier(tmp_path)], [{"name": "16 epochs", "plan": "p.yaml", "out": "out"}], tmp_path,
                tmp_path / "docs" / "ablation.md", "cmd", readme, ["- Claim 1 (x): 16 epochs: refuted"])
    text = readme.read_text()
    assert "Verdicts on the practitioner's claims" in text and "- Claim 1 (x): 16 epochs: refuted\n" + README_END in text
