"""Claims verdicts: the rules on hand-made per-seed deltas, claim combination, history rows only for identical
settings, the claims file checks, and the report on a hand-made tier."""

import pytest

from yolo_ext.ablate.claims import (BAND, LITTLE, Claim, ClaimsError, Tier, _history, combine, load_claims, paired,
                                    verdict)
from yolo_ext.ablate.claims_report import claims_markdown
from yolo_ext.ablate.plan import load_plan
from yolo_ext.ablate.tinydata import resolve_plan_data

from helpers import ROOT


def d(*xs):
    return list(enumerate(xs))


@pytest.mark.parametrize("expect,deltas,want", [
    ("better", d(0.05, 0.03, 0.04), "reproduced"),
    ("better", d(0.05, 0.03, -0.01), "inconclusive"),   # one seed disagrees
    ("better", d(0.01, 0.005, 0.012), "inconclusive"),  # every seed better, but within the noise band
    ("better", d(-0.01, -0.03, -0.001), "refuted"),
    ("worse", d(-0.05, -0.03, -0.04), "reproduced"),
    ("worse", d(0.05, 0.03, 0.01), "refuted"),
    ("same", d(0.01, -0.015, 0.02), "reproduced"),
    ("same", d(0.05, 0.03, 0.04), "refuted"),
    ("same", d(0.09, -0.02, 0.01), "inconclusive"),    # |mean| 2.7 pp but the seeds disagree
    ("little", d(0.01, 0.02, 0.005), "reproduced"),
    ("little", d(0.05, 0.04, 0.06), "inconclusive"),   # helps, and by more than "little"
    ("little", d(-0.01, -0.02, -0.005), "refuted"),
    ("better", d(0.05, 0.05), "pending"),               # 2 of the 3 seeds
])
def test_verdict_rules(expect, deltas, want):
    assert verdict(deltas, expect, need=3) == want


def test_bands_are_the_documented_ones():
    assert (BAND, LITTLE) == (0.02, 0.03)
    assert verdict(d(0.0201, 0.0201, 0.0201), "better", 3) == "reproduced"
    assert verdict(d(0.0199, 0.0199, 0.0199), "better", 3) == "inconclusive"


@pytest.mark.parametrize("rule,vs,want", [
    ("all", ["reproduced", "reproduced"], "reproduced"),
    ("all", ["reproduced", "inconclusive"], "inconclusive"),
    ("all", ["reproduced", "pending"], "pending"),
    ("all", ["pending", "refuted"], "refuted"),
    ("any", ["refuted", "reproduced"], "reproduced"),
    ("any", ["refuted", "pending"], "pending"),
    ("any", ["refuted", "refuted"], "refuted"),
    ("any", ["refuted", "inconclusive"], "inconclusive"),
])
def test_combine(rule, vs, want):
    assert combine(vs, rule) == want


def _tier():
    m = lambda h: {"easy": h, "medium": h, "hard": h}  # noqa: E731
    t = Tier("16 epochs", "plan.yaml", 3, "base", "data.yaml", rows={"base", "a", "b"})
    t.values = {"base": {0: m(0.30), 1: m(0.32), 2: m(0.28)}, "a": {0: m(0.36), 1: m(0.35), 2: m(0.33)},
                "b": {0: m(0.31)}}
    return t


def test_paired_uses_only_seeds_both_ran():
    t = _tier()
    assert [(s, round(x, 6)) for s, x in paired(t, "a", "base")] == [(0, 0.06), (1, 0.03), (2, 0.05)]
    assert [(s, round(x, 6)) for s, x in paired(t, "b", "base")] == [(0, 0.01)]


def test_report_on_a_hand_made_tier():
    claims = [Claim("1", "a helps", "better", "all", (("a", None),)),
              Claim("2", "b helps", "better", "all", (("b", None),)),
              Claim("3", "c helps", "better", "all", (("c", None),))]
    md = claims_markdown(claims, [_tier()], "cmd")
    assert "| 1. a helps | better (all) | reproduced |" in md
    assert "| 2. b helps | better (all) | pending |" in md
    assert "| 3. c helps | better (all) | not in this tier |" in md
    assert "| `a` vs `base` | 3/3 | s0 +6.0, s1 +3.0, s2 +5.0 |" in md
    assert "+4.7 ± 1.5" in md and "3/3 | reproduced |" in md


def test_history_counts_only_identical_settings(tmp_path):
    """A row of the earlier study is imported only for a configuration with the same fingerprint."""
    old = (ROOT / "data/ablations/study.yaml").read_text()
    new = old.replace("overrides: {obj_loss: focal}", "overrides: {obj_loss: focal, obj_norm: mean}")
    assert new != old
    (tmp_path / "new.yaml").write_text(new)
    (tmp_path / "old.yaml").write_text(old)
    (tmp_path / "runs.csv").write_text("configuration,seed,status,reason,easy,medium,hard,mAP50,mAP50-95\n"
                                       "yolov5,0,ok,,0.5,0.5,0.3,0.2,0.1\nfocal,0,ok,,0.4,0.4,0.1,0.1,0.05\n"
                                       "qfl,0,failed,boom,,,,,\n")
    plan = load_plan(tmp_path / "new.yaml")
    h = _history({"plan": "old.yaml", "runs": "runs.csv"}, plan, resolve_plan_data(plan.data), tmp_path)
    assert set(h) == {"yolov5"} and h["yolov5"][0]["hard"] == 0.3  # focal changed; qfl failed


@pytest.mark.parametrize("text,match", [
    ("tiers: []\nclaims: [{id: 1, expect: better, compare: [[a]]}]", None),
    ("tiers: []\nclaims: [{id: 1, expect: greater, compare: [[a]]}]", "expect 'greater'"),
    ("tiers: []\nclaims: [{id: 7, expect: same, rule: most, compare: [[a]]}]", "claim 7: rule 'most'"),
    ("tiers: []\nclaims: [{id: 1, expect: same, compare: []}]", "compare must be"),
    ("tiers: []\nclaims: [{id: 1, expect: same, compare: [[a]], sizez: true}]", "unknown key"),
    ("tiers: [{name: x}]\nclaims: []", "every tier needs"),
    ("tiers: [{name: x, plan: p, out: o, record: r.jsonl}]\nclaims: []", "tier 'x': unknown key.*record"),
    ("claims: []", "'tiers' and 'claims'"),
])
def test_claims_file_checks(tmp_path, text, match):
    p = tmp_path / "claims.yaml"
    p.write_text(text)
    if match is None:
        _, claims = load_claims(p)
        assert claims[0].compare == (("a", None),) and claims[0].rule == "all"
        return
    with pytest.raises(ClaimsError, match=match) as e:
        load_claims(p)
    assert str(p) in str(e.value)


def test_committed_claims_file_names_rows_of_the_plans():
    specs, claims = load_claims(ROOT / "data/ablations/claims.yaml")
    rows = set()
    for s in specs:
        rows |= {r.name for r in load_plan(ROOT / s["plan"]).runs}
    named = {x for c in claims for pair in c.compare for x in pair if x}
    for s in specs:  # an alias reads a row of its tier's plan
        plan_rows = {r.name for r in load_plan(ROOT / s["plan"]).runs}
        assert set((s.get("aliases") or {}).values()) <= plan_rows and not set(s.get("aliases") or {}) & plan_rows
        rows |= set(s.get("aliases") or {})
    assert named <= rows, sorted(named - rows)


def test_an_alias_reads_its_rows_seeds_and_is_named_as_such(tmp_path):
    """``aliases: {best-v2: atss-adapt}``: a claim on best-v2 reads atss-adapt's seeds (no second training of the
    same settings), the report says which row it is, and the per-run CSV does not list the seeds twice."""
    import yaml

    from yolo_ext.ablate.claims import load_tier
    from yolo_ext.ablate.records import write_records
    from yolo_ext.ablate.study_report import runs_csv

    (tmp_path / "d.yaml").write_text("path: .\ntrain: t\nval: v\nnames: {0: face}\n")
    plan = {"name": "t", "data": str(tmp_path / "d.yaml"), "base": {"model": "yolov5n-1a.yaml", "epochs": 1},
            "runs": [{"name": "base", "baseline": True, "overrides": {"assigner": "yolov5"}},
                     {"name": "c", "overrides": {"assigner": "atss"}}]}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    fps = {r.name: r.fingerprint(str(tmp_path / "d.yaml")) for r in load_plan(tmp_path / "p.yaml").runs}
    recs = {}
    for s, (b, c) in enumerate([(0.30, 0.36), (0.32, 0.35), (0.31, 0.38)]):
        for name, hard in (("base", b), ("c", c)):
            recs[(name, s)] = {"run": name, "seed": s, "fingerprint": fps[name], "fingerprint_version": 2,
                               "metrics": {"easy": 0.5, "medium": 0.4, "hard": hard}, "wall_s": 10.0,
                               "finished": None, "env": None, "evidence": None, "sizes": None, "origin": "test"}
    write_records(tmp_path / "r.jsonl", recs)
    spec = {"name": "16 epochs", "plan": "p.yaml", "out": "out", "records": "r.jsonl", "aliases": {"best": "c"}}
    tier = load_tier(spec, tmp_path, seeds=3, log=lambda s: None)
    assert tier.values["best"] == tier.values["c"] and tier.source[("best", 2)] == "record"
    claim = Claim("8", "together better", "better", "any", (("best", None),))
    md = claims_markdown([claim], [tier], "cmd")
    assert "| `best` (= `c`) vs `base` | 3/3 | s0 +6.0, s1 +3.0, s2 +7.0 |" in md and "reproduced" in md
    csv_rows = [ln for ln in runs_csv([tier]).splitlines() if ",best," in ln]
    assert csv_rows == []
    for bad, match in (({"best": "nope"}, "not a row"), ({"c": "base"}, "already a row")):
        with pytest.raises(ClaimsError, match=match):
            load_tier({**spec, "aliases": bad}, tmp_path, seeds=3, log=lambda s: None)


def test_why_is_read_folded_and_rendered_under_the_claim(tmp_path):
    p = tmp_path / "claims.yaml"
    p.write_text("tiers: []\nclaims:\n  - id: 1\n    claim: a helps\n    expect: better\n    compare: [[a]]\n"
                 "    why: >-\n      the ratio\n      column shows it\n  - id: 2\n    claim: b\n    expect: same\n"
                 "    compare: [[b]]\n")
    _, (c1, c2) = load_claims(p)
    assert (c1.why, c2.why) == ("the ratio column shows it", "")
    md = claims_markdown([c1, c2], [_tier()], "cmd")
    assert "> a helps\n\n**Our reading of the evidence:** the ratio column shows it\n" in md
    assert md.count("Our reading of the evidence") == 1


def test_verdict_lines_name_each_tier():
    from yolo_ext.ablate.claims_report import verdict_lines

    claims = [Claim("1", "a helps; more words", "better", "all", (("a", None),)),
              Claim("2", "c helps.", "better", "all", (("c", None),))]
    assert verdict_lines(claims, [_tier()]) == ["- Claim 1 (a helps): 16 epochs: reproduced",
                                                "- Claim 2 (c helps): 16 epochs: not in this tier"]
