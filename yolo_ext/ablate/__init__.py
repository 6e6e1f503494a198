"""Ablation studies: train every configuration of a plan for several seeds, then tabulate mean ± std.

    python -m yolo_ext.ablate --plan data/ablations/study.yaml --seeds 3 --out runs/ablate/study
    python -m yolo_ext.ablate --quick            # CI: tiny data, 1 epoch, proves the pipeline
    python -m yolo_ext.ablate --plan data/ablations/best-search.yaml --seeds 2 --seed-start 100  # held-out seeds

Modules: ``plan`` (load/validate the YAML), ``runner`` (one worker process per run, resumable, retried when killed),
``executors`` (local: ``--jobs K`` at a time), ``rayexec`` (one Ray task per run), ``worker`` (the process), ``collect`` (a run's metrics from its own files), ``aggregate`` (mean/std/delta over seeds, per-seed paired differences), ``report``
(Markdown, CSV, bar chart), ``tinydata`` (the --quick dataset), ``claims`` / ``claims_report`` (docs/claims.md),
``positives`` (positives per face of a finished run, for the claims report).
"""

from .aggregate import Aggregate, ConfigStats, aggregate, mean_std
from .collect import METRICS, RunResultError, collect_run
from .plan import Plan, PlanError, RunSpec, load_plan
from .report import write_report
from .runner import Job, check_done, make_jobs, run_plan

__all__ = [
    "Aggregate",
    "ConfigStats",
    "Job",
    "METRICS",
    "Plan",
    "PlanError",
    "RunResultError",
    "RunSpec",
    "aggregate",
    "check_done",
    "collect_run",
    "load_plan",
    "make_jobs",
    "mean_std",
    "run_plan",
    "write_report",
]
