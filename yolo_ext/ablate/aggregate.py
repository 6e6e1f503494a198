"""Per-configuration statistics over seeds, from each run's own result files.

Every number comes from ``collect.collect_run`` reading the run directory (plus the wall time the runner recorded in
``done.json``), or, for a run whose directory is gone, from its record in a committed records file
(``records.py``, fingerprint-checked); a run that is missing, incomplete, failed, stale or whose files do not read back is listed in
``failures`` with its reason and left out of the mean: ``n`` says how many seeds each statistic is over.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from .collect import METRICS
from .plan import Plan, RunSpec
from .records import metrics_of
from .runner import check_done, expects_wider, make_jobs

STAT_METRICS = (*METRICS, "wall_s")
DELTA_METRICS = ("easy", "medium", "hard", "mAP50", "mAP50-95")


@dataclass
class ConfigStats:
    """One configuration: ``values[metric]`` lists the successful seeds' values (same order as ``seeds_ok``)."""

    run: RunSpec
    seeds_ok: list = field(default_factory=list)
    values: dict = field(default_factory=lambda: {m: [] for m in STAT_METRICS})
    mean: dict = field(default_factory=dict)
    std: dict = field(default_factory=dict)
    delta: dict = field(default_factory=dict)
    paired: dict = field(default_factory=dict)  # metric -> [(seed, config - baseline)] over seeds both finished
    recorded: set = field(default_factory=set)  # seeds whose values come from a records file (no run directory)

    @property
    def n(self) -> int:
        return len(self.seeds_ok)

    def paired_summary(self, metric: str) -> tuple:
        """(mean, sample std, seeds better) of the per-seed differences to the baseline for ``metric``."""
        d = [v for _, v in self.paired[metric]]
        return (*mean_std(d), sum(v > 0 for v in d))


@dataclass
class Aggregate:
    plan: Plan
    seeds: int
    data_yaml: str
    configs: list
    failures: list  # [(run name, seed, reason)]
    envs: list  # distinct env.json dicts of the successful runs
    has_wider: bool  # the data is WIDER-format: runs must report easy/medium/hard AP
    seed_start: int = 0  # seeds are seed_start..seed_start+seeds-1

    @property
    def key_metric(self) -> str:
        """The metric the paired comparison is shown for: hard AP on WIDER-format data, else mAP50."""
        return "hard" if self.has_wider else "mAP50"

    @property
    def baseline(self) -> ConfigStats:
        return next(c for c in self.configs if c.run.name == self.plan.baseline.name)


def mean_std(values) -> tuple:
    """(mean, sample std with n-1) of a list; NaN mean for an empty list or any NaN value, NaN std when n < 2."""
    a = np.asarray(values, dtype=float)
    if a.size == 0 or np.isnan(a).any():
        return math.nan, math.nan
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else math.nan


def aggregate(plan: Plan, out, seeds: int, data_yaml: str, seed_start: int = 0, records: dict | None = None
              ) -> Aggregate:
    """Collect every (configuration, seed) of ``plan`` under ``out`` and compute mean, std and delta vs baseline.

    ``records``: ``{(run, seed): record}`` already matched to the plan (``records.matching``); a job with no valid
    run directory counts with its record's values (``ConfigStats.recorded``)."""
    configs = {r.name: ConfigStats(r) for r in plan.runs}
    failures, envs = [], []
    for job in make_jobs(plan, seeds, out, seed_start):
        metrics, reason = check_done(job, data_yaml)
        c = configs[job.run.name]
        rec = (records or {}).get((job.run.name, job.seed))
        if metrics is None and rec is not None:
            metrics, done = metrics_of(rec), {"wall_s": rec.get("wall_s"), "env": rec.get("env")}
            c.recorded.add(job.seed)
        elif metrics is None:
            failures.append((job.run.name, job.seed, reason))
            continue
        else:
            done = json.loads((job.dir / "done.json").read_text())
        metrics = {**metrics, "wall_s": float(done.get("wall_s") if done.get("wall_s") is not None else math.nan)}
        c.seeds_ok.append(job.seed)
        for m in STAT_METRICS:
            c.values[m].append(metrics[m])
        if done.get("env") and done["env"] not in envs:
            envs.append(done["env"])
    for c in configs.values():
        for m in STAT_METRICS:
            c.mean[m], c.std[m] = mean_std(c.values[m])
    base = configs[plan.baseline.name]
    base_by_seed = {s: i for i, s in enumerate(base.seeds_ok)}
    for c in configs.values():
        c.delta = {m: c.mean[m] - base.mean[m] for m in DELTA_METRICS}
        # same seed = same initialisation and data order: per-seed differences cancel the seed-to-seed variation
        # that the two configurations share (a paired comparison)
        both = [(i, base_by_seed[s], s) for i, s in enumerate(c.seeds_ok) if s in base_by_seed]
        c.paired = {m: [(s, c.values[m][i] - base.values[m][j]) for i, j, s in both] for m in DELTA_METRICS}
    has_wider = any(expects_wider(data_yaml, r.config) for r in plan.runs)
    return Aggregate(plan, seeds, data_yaml, list(configs.values()), failures, envs, has_wider, seed_start)
