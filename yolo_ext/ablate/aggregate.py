"""Per-configuration statistics over seeds, from each run's own result files.

Every number comes from ``collect.collect_run`` reading the run directory (plus the wall time the runner recorded in
``done.json``); a run that is missing, incomplete, failed, stale or whose files do not read back is listed in
``failures`` with its reason and left out of the mean: ``n`` says how many seeds each statistic is over.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from .collect import METRICS
from .plan import Plan, RunSpec
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

    @property
    def n(self) -> int:
        return len(self.seeds_ok)


@dataclass
class Aggregate:
    plan: Plan
    seeds: int
    data_yaml: str
    configs: list
    failures: list  # [(run name, seed, reason)]
    envs: list  # distinct env.json dicts of the successful runs
    has_wider: bool  # the data is WIDER-format: runs must report easy/medium/hard AP

    @property
    def baseline(self) -> ConfigStats:
        return next(c for c in self.configs if c.run.name == self.plan.baseline.name)


def mean_std(values) -> tuple:
    """(mean, sample std with n-1) of a list; NaN mean for an empty list or any NaN value, NaN std when n < 2."""
    a = np.asarray(values, dtype=float)
    if a.size == 0 or np.isnan(a).any():
        return math.nan, math.nan
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else math.nan


def aggregate(plan: Plan, out, seeds: int, data_yaml: str) -> Aggregate:
    """Collect every (configuration, seed) of ``plan`` under ``out`` and compute mean, std and delta vs baseline."""
    configs = {r.name: ConfigStats(r) for r in plan.runs}
    failures, envs = [], []
    for job in make_jobs(plan, seeds, out):
        metrics, reason = check_done(job, data_yaml)
        if metrics is None:
            failures.append((job.run.name, job.seed, reason))
            continue
        done = json.loads((job.dir / "done.json").read_text())
        metrics = {**metrics, "wall_s": float(done.get("wall_s", math.nan))}
        c = configs[job.run.name]
        c.seeds_ok.append(job.seed)
        for m in STAT_METRICS:
            c.values[m].append(metrics[m])
        if done.get("env") and done["env"] not in envs:
            envs.append(done["env"])
    for c in configs.values():
        for m in STAT_METRICS:
            c.mean[m], c.std[m] = mean_std(c.values[m])
    base = configs[plan.baseline.name]
    for c in configs.values():
        c.delta = {m: c.mean[m] - base.mean[m] for m in DELTA_METRICS}
    has_wider = any(expects_wider(data_yaml, r.config) for r in plan.runs)
    return Aggregate(plan, seeds, data_yaml, list(configs.values()), failures, envs, has_wider)
