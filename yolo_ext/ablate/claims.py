"""Verdicts on stated claims ("VFL beats QFL", "3 anchors ~ 1 anchor") from the study's runs, per schedule tier.

A claims file (``data/ablations/claims.yaml``) names the tiers (a plan and its output directory each, optionally a
``history`` of an earlier study whose runs count for the configurations it shares) and the claims: comparisons
``row vs against`` and what the claim expects of each comparison's paired per-seed difference in hard AP (``better``,
``worse``, ``same``, ``little``). A seed fixes the initialisation and the data order, so the per-seed difference of
two configurations cancels what they share; the verdict rules below need every seed of the tier to have run.

Values come only from each run's own files (``aggregate.aggregate``: fingerprint-checked ``done.json``, results.csv,
wider_ap.json); the loss-balance evidence from results.csv and train.log, and the positives per face from the
run's last.pt on its training images (``positives.py``, cached in the run directory). A history row counts for a
configuration only when the earlier plan's run has the same fingerprint (identical settings and data), and its cells
are labelled as such. A tier with a records file also records its history seeds there (origin
:data:`HISTORY_ORIGIN`), so that the sweep of the tier's plan knows those runs and does not train them again.

A tier's ``aliases`` (``{name: row}``) let a claim name a configuration that the tier's plan holds under another
row name with the same settings (study v2's ``best-v2`` is the broad tier's ``atss-adapt``): the alias reads that
row's seeds, and no run is trained twice.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from ultralytics.utils import LOGGER

from .aggregate import DELTA_METRICS, aggregate
from .plan import FINGERPRINT_VERSION, load_plan
from .collect import METRICS
from .positives import static_positives
from .records import METRIC_KEYS, RecordMaker, evidence_of, matching, read_records, sizes_of, update_records
from .tinydata import resolve_plan_data

EXPECT = ("better", "worse", "same", "little")
RULES = ("all", "any")
# Noise band for one comparison of 3 paired seeds, in hard AP: the first study's baseline had a seed-to-seed std of
# 2.2 pp (docs/ablation-study1.md), so a 2 pp mean difference is about one baseline std. `little` = at most 3 pp.
BAND = 0.02
LITTLE = 0.03
HISTORY_ORIGIN = "history: "  # origin prefix of a record made from a tier's history CSV (the earlier study's run)
TIER_KEYS = ("name", "plan", "out", "history", "records", "aliases")


class ClaimsError(ValueError):
    """An invalid claims file; the message names the file and the claim."""


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    expect: str
    rule: str
    compare: tuple  # ((row, against), ...); against None = the plan's baseline
    sizes: bool = False
    why: str = ""  # where the measurement disagrees: the mechanism and which evidence column shows it


@dataclass
class Tier:
    """One schedule: per configuration ``{seed: {metric: value}}``, where each value came from (``source``), and
    the run directory of every v2 run (for the size buckets and the loss-balance evidence)."""

    name: str
    plan_path: str
    seeds: int
    baseline: str
    data_yaml: str
    values: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)  # (row, seed) -> "run" | "record" | "history"
    run_dirs: dict = field(default_factory=dict)  # (row, seed) -> Path
    evidence: dict = field(default_factory=dict)  # (row, seed) -> records.balance_evidence of a run (or record)
    sizes: dict = field(default_factory=dict)  # (row, seed) -> [{label, faces, ap, recall}] by face height
    walls: dict = field(default_factory=dict)  # (row, seed) -> wall seconds of this tier's own runs
    records_path: Path | None = None  # the tier's records file (``records:`` in the claims file), if any
    records: dict = field(default_factory=dict)  # its content brought up to date from the run directories
    rows: set = field(default_factory=set)  # configurations the plan has
    configs: dict = field(default_factory=dict)  # row -> RunSpec (for evidence that needs no trained run)
    aliases: dict = field(default_factory=dict)  # name -> the plan row it reads (``aliases:`` in the claims file)
    machines: dict = field(default_factory=dict)  # (row, seed) -> machine_of(the run's env), None where unknown


def load_claims(path) -> tuple:
    """(tiers spec list, [Claim]) from a claims YAML; ClaimsError names the file and claim on any problem."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ClaimsError(f"{path}: cannot read claims file: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("claims"), list) or not isinstance(doc.get("tiers"), list):
        raise ClaimsError(f"{path}: expected a mapping with 'tiers' and 'claims' lists")
    claims = []
    for i, c in enumerate(doc["claims"]):
        where = f"{path}: claim {c.get('id', i + 1) if isinstance(c, dict) else i + 1}"
        if not isinstance(c, dict):
            raise ClaimsError(f"{where}: expected a mapping")
        unknown = set(c) - {"id", "claim", "expect", "rule", "compare", "sizes", "why"}
        if unknown:
            raise ClaimsError(f"{where}: unknown key(s) {sorted(unknown)}")
        if c.get("expect") not in EXPECT:
            raise ClaimsError(f"{where}: expect {c.get('expect')!r} is not one of {list(EXPECT)}")
        if c.get("rule", "all") not in RULES:
            raise ClaimsError(f"{where}: rule {c.get('rule')!r} is not one of {list(RULES)}")
        comp = c.get("compare")
        if not comp or not all(isinstance(p, list) and len(p) in (1, 2) and all(isinstance(x, str) for x in p)
                               for p in comp):
            raise ClaimsError(f"{where}: compare must be a list of [row] or [row, against] name lists")
        claims.append(Claim(str(c.get("id", i + 1)), str(c.get("claim", "")).strip(), c["expect"],
                            c.get("rule", "all"), tuple((p[0], p[1] if len(p) > 1 else None) for p in comp),
                            bool(c.get("sizes", False)), " ".join(str(c.get("why") or "").split())))
    for t in doc["tiers"]:
        if not isinstance(t, dict) or not {"name", "plan", "out"} <= set(t):
            raise ClaimsError(f"{path}: every tier needs name, plan and out; got {t!r}")
        unknown = sorted(set(t) - set(TIER_KEYS))
        if unknown:
            raise ClaimsError(f"{path}: tier {t['name']!r}: unknown key(s) {unknown} (known: {', '.join(TIER_KEYS)})")
        al = t.get("aliases", {})
        if not isinstance(al, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in al.items()):
            raise ClaimsError(f"{path}: tier {t['name']!r}: aliases must map names to row names, got {al!r}")
    return doc["tiers"], claims


def _history(hist: dict, plan, data_yaml: str, root: Path) -> dict:
    """{row: {seed: metrics}} of an earlier study's per-run CSV, for the rows of ``plan`` whose settings are
    identical (same fingerprint) to a row of the earlier plan. The metrics are :data:`DELTA_METRICS`, plus
    ``train_time_s`` and ``wall_s`` where the CSV has them (NaN where empty)."""
    old = load_plan(root / hist["plan"])
    old_fp = {r.name: r.fingerprint(resolve_plan_data(old.data)) for r in old.runs}
    same = {}
    for r in plan.runs:
        match = [n for n, fp in old_fp.items() if fp == r.fingerprint(data_yaml)]
        if match:
            same[match[0]] = r.name
    out = {}
    with open(root / hist["runs"], newline="") as f:
        for row in csv.DictReader(f):
            if row.get("status") == "ok" and row["configuration"] in same:
                m = {k: float(row[k]) for k in DELTA_METRICS}
                m.update({k: float(row[k]) if row.get(k) else math.nan for k in ("train_time_s", "wall_s")
                          if k in row})
                out.setdefault(same[row["configuration"]], {})[int(row["seed"])] = m
    return out


def history_record(row: str, seed: int, fingerprint: str, metrics: dict, hist: dict) -> dict:
    """The record of a history seed: the earlier study's values from its CSV (null for what the CSV lacks), the
    configuration's fingerprint (the same in both plans, or it would not be history), origin :data:`HISTORY_ORIGIN`
    + the CSV and plan it came from."""
    def num(k):
        v = metrics.get(k, math.nan)
        return None if not math.isfinite(v) else float(v)
    return {"run": row, "seed": int(seed), "fingerprint": fingerprint, "fingerprint_version": FINGERPRINT_VERSION,
            "metrics": {k: num(k) for k in METRIC_KEYS}, "wall_s": num("wall_s"), "finished": None, "env": None,
            "evidence": None, "sizes": None,
            "origin": f"{HISTORY_ORIGIN}{hist['runs']} (the earlier study {hist['plan']}, identical settings)"}


def machine_of(env: dict | None) -> str | None:
    """The CPU (and the instruction set torch used, which changes the numbers: results are deterministic per
    machine, not across CPUs) or GPU a run trained on, from its ``env``; None where the run did not record it."""
    if not env:
        return None
    if env.get("gpu") and env["gpu"] != "none":
        return str(env["gpu"])
    cpu = env.get("cpu") or "unknown CPU"
    return f"{cpu} {env['cpu_capability']}" if env.get("cpu_capability") else f"{cpu} (instruction set not recorded)"


def is_history(rec: dict | None) -> bool:
    return bool(rec) and str(rec.get("origin", "")).startswith(HISTORY_ORIGIN)


def load_tier(spec: dict, root: Path, seeds: int = 3, log=print) -> Tier:
    """Collect one tier: the plan's finished runs under ``out`` (each also recorded in the tier's records file
    when it names one), then the records of runs whose directory is gone, then history rows for seeds that did not
    run. Nothing is written here: ``save_records`` writes the updated records file."""
    plan = load_plan(root / spec["plan"])
    data_yaml = resolve_plan_data(plan.data)
    out = root / spec["out"]
    tier = Tier(spec["name"], spec["plan"], seeds, plan.baseline.name, data_yaml, rows={r.name for r in plan.runs},
                configs={r.name: r for r in plan.runs})
    recorded = {}
    if spec.get("records"):
        tier.records_path = root / spec["records"]
        tier.records = read_records(tier.records_path)
        recorded, stale = matching(tier.records, plan, data_yaml)
        if stale:
            LOGGER.warning(f"claims: {tier.name}: {len(stale)} stale record(s) in {tier.records_path} not used: "
                           + ", ".join(f"{r}-s{s}" for r, s in stale))
    agg = aggregate(plan, out, seeds, data_yaml, records=recorded) if out.is_dir() or recorded else None
    maker = RecordMaker(data_yaml)
    for c in agg.configs if agg else []:
        for i, s in enumerate(c.seeds_ok):
            key = (c.run.name, s)
            tier.values.setdefault(c.run.name, {})[s] = {m: c.values[m][i] for m in DELTA_METRICS}
            if s in c.recorded:
                rec = recorded[key]
                tier.source[key] = "history" if is_history(rec) else "record"
            else:
                tier.source[key] = "run"
                run_dir = tier.run_dirs[key] = out / "runs" / f"{c.run.name}-s{s}"
                old = tier.records.get(key)
                rec = tier.records[key] = maker.make(c.run.name, s, run_dir, {m: c.values[m][i] for m in METRICS}, old)
                if rec is not old:
                    log(f"claims: {tier.name}: recorded {c.run.name} seed {s} from {run_dir}")
            tier.machines[key] = machine_of(rec.get("env"))
            if not math.isnan(c.values["wall_s"][i]) and tier.source[key] != "history":
                tier.walls[key] = c.values["wall_s"][i]  # this tier's compute, not the earlier study's
            if (ev := evidence_of(rec)) is not None:
                tier.evidence[key] = ev
            if (sz := sizes_of(rec)) is not None:
                tier.sizes[key] = sz
    if spec.get("history"):
        for name, by_seed in _history(spec["history"], plan, data_yaml, root).items():
            fp = tier.configs[name].fingerprint(data_yaml) if tier.records_path is not None else None
            for s, m in by_seed.items():
                if s < seeds and s not in tier.values.get(name, {}):
                    tier.values.setdefault(name, {})[s] = {k: m[k] for k in DELTA_METRICS}
                    tier.source[(name, s)] = "history"
                    if fp is not None:  # recorded, so that the tier's sweep skips it (records.Recorder)
                        tier.records[(name, s)] = history_record(name, s, fp, m, spec["history"])
                        log(f"claims: {tier.name}: recorded {name} seed {s} from the history {spec['history']['runs']}")
    for alias, row in (spec.get("aliases") or {}).items():
        if row not in tier.rows:
            raise ClaimsError(f"tier {tier.name!r}: alias {alias!r} names {row!r}, which is not a row of "
                              f"{spec['plan']}")
        if alias in tier.rows:
            raise ClaimsError(f"tier {tier.name!r}: alias {alias!r} is already a row of {spec['plan']}")
        tier.aliases[alias] = row
        for d in (tier.values, tier.configs):
            if row in d:
                d[alias] = d[row]
        for d in (tier.source, tier.run_dirs, tier.evidence, tier.sizes, tier.machines):
            for (r, s), v in list(d.items()):
                if r == row:
                    d[(alias, s)] = v
        tier.rows.add(alias)
    return tier


def save_records(tier: Tier) -> bool:
    """Write the tier's records brought up to date by ``load_tier`` (no-op without a records file); returns
    whether the file changed."""
    if tier.records_path is None or not tier.records:
        return False
    return update_records(tier.records_path, tier.records)


def paired(tier: Tier, row: str, against: str, metric: str = "hard") -> list:
    """[(seed, row - against)] over the seeds both configurations finished."""
    a, b = tier.values.get(row, {}), tier.values.get(against, {})
    return [(s, a[s][metric] - b[s][metric]) for s in sorted(set(a) & set(b))]


def verdict(deltas: list, expect: str, need: int) -> str:
    """reproduced / refuted / inconclusive for one comparison's per-seed Δ hard AP; pending below ``need`` seeds.

    better: reproduced if every seed is better and the mean exceeds BAND; refuted if every seed is worse.
    worse: the mirror image. little: every seed better and the mean at most LITTLE; refuted if every seed is worse.
    same: |mean| <= BAND; refuted if |mean| > BAND with every seed on the same side."""
    d = [v for _, v in deltas]
    if len(d) < need:
        return "pending"
    m = sum(d) / len(d)
    up, down = all(v > 0 for v in d), all(v < 0 for v in d)
    if expect == "same":
        return "reproduced" if abs(m) <= BAND else ("refuted" if up or down else "inconclusive")
    if expect == "worse":
        up, down, m = down, up, -m
    if down:
        return "refuted"
    if expect == "little":
        return "reproduced" if up and m <= LITTLE else "inconclusive"
    return "reproduced" if up and m > BAND else "inconclusive"


def combine(verdicts: list, rule: str) -> str:
    """A claim's verdict from its comparisons' verdicts (``rule`` all / any)."""
    if rule == "any":
        for v in ("reproduced", "pending", "inconclusive"):
            if v in verdicts:
                return v
        return "refuted"
    if "refuted" in verdicts:
        return "refuted"
    for v in ("pending", "inconclusive"):
        if v in verdicts:
            return v
    return "reproduced"


_STATIC: dict = {}  # fingerprint -> static_positives result (None: the assigner reads predictions)


def assigner_positives(tier: Tier, row: str):
    """Positives per face of ``row`` from its assigner alone (``positives.static_positives``), for rows whose
    assigner reads no prediction: the same number whatever the weights, so it also covers seeds from the first
    study, which have no run directory. None when the assigner reads predictions or the row is unknown. Computed
    once per configuration and process."""
    spec = tier.configs.get(row)
    if spec is None:
        return None
    fp = spec.fingerprint(tier.data_yaml)
    if fp not in _STATIC:
        try:
            _STATIC[fp] = static_positives(spec.config, tier.data_yaml)
        except (OSError, ValueError, KeyError) as e:
            LOGGER.warning(f"claims: no assigner-only positives for {row}: {e}")
            _STATIC[fp] = None
    return _STATIC[fp]
