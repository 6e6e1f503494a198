"""One trial of a search: our trainer, one isolated worker process per seed, inside a Ray Tune trial.

A trial's directory ``<out>/trials/<trial id>/`` is laid out like an ablation output: ``trial.json`` (the sampled
configuration, the seeds, the status), ``runs/trial-s<seed>/`` (each seed's ultralytics run directory, trained by
``ablate.runner.run_attempts``, so exactly what ``ablate`` would train) and ``attempts/``. The seeds of a trial train
at the same time; after every epoch that all of them finished, the trial reports the mean validation mAP50 (the
cheap per-epoch metric ASHA compares trials on); when they have all finished, it reports the metrics read back from
their own files (``ablate.collect``), WIDER easy/medium/hard AP included, averaged over the seeds.
"""

from __future__ import annotations

import datetime
import json
import math
import threading
import time
from pathlib import Path

from ..ablate.collect import CSV_COLUMNS, METRICS, RunResultError, read_results_csv
from ..ablate.plan import RunSpec, check_config
from ..ablate.runner import Job, expects_wider, kill_live, run_attempts
from ..utils.files import atomic_write

try:
    import ray
    from ray import tune as raytune
except ImportError:  # optional: pip install -e .[ray]
    ray = raytune = None

TRIAL_RUN = "trial"  # the run name inside a trial directory: runs/trial-s<seed>


def trial_jobs(trial_dir: Path, config: dict, seeds: list) -> list:
    """The ablation jobs of a trial: one per seed, under ``trial_dir/runs``."""
    spec = RunSpec(name=TRIAL_RUN, description="", config=check_config(dict(config)))
    return [Job(spec, s, trial_dir / "runs" / f"{TRIAL_RUN}-s{s}") for s in seeds]


def epoch_map50(job: Job) -> list:
    """Validation mAP50 of every epoch the run has written so far (an unreadable or partial file: none yet)."""
    try:
        return [r[CSV_COLUMNS["mAP50"]] for r in read_results_csv(job.dir / "results.csv")]
    except RunResultError:
        return []


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values and not any(math.isnan(v) for v in values) else math.nan


def run_trial(config: dict, ctx: dict) -> None:
    """The Ray Tune function trainable. ``ctx``: base, data_yaml, out, seeds, metric, timeout, retries, gpus."""
    config = {k: v.item() if hasattr(v, "item") else v for k, v in config.items()}  # numpy scalars from Tune
    tc = raytune.get_context()
    trial_dir = Path(ctx["out"]) / "trials" / tc.get_trial_id()
    full = {**ctx["base"], **config}
    jobs = trial_jobs(trial_dir, full, ctx["seeds"])
    record = {"trial": tc.get_trial_id(), "config": config, "seeds": ctx["seeds"], "status": "running",
              "started": datetime.datetime.now().isoformat(timespec="seconds")}
    trial_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(trial_dir / "trial.json", json.dumps(record, indent=2, default=str))
    gpus = ray.get_gpu_ids() if ctx.get("gpus") else []
    results = {}

    def train(i, job):
        device = str(i % len(gpus)) if gpus else None  # torch index within the GPUs Ray gave the trial
        results[job.label] = run_attempts(job, ctx["data_yaml"], device, ctx.get("timeout"), False, None,
                                          ctx.get("retries", 1), "tune")

    threads = [threading.Thread(target=train, args=(i, j), daemon=True) for i, j in enumerate(jobs)]
    epochs, reported = int(full.get("epochs", 100)), 0
    try:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            time.sleep(1.0)
            per_seed = [epoch_map50(j) for j in jobs]
            ready = min(len(m) for m in per_seed)
            for e in range(reported + 1, min(ready, epochs - 1) + 1):  # the last epoch is reported with the APs
                raytune.report({"epoch": e, "mAP50": mean(m[e - 1] for m in per_seed), "final": False})
                reported = e
        for t in threads:
            t.join()
    except BaseException:  # stopped by the scheduler (or interrupted): the seeds' processes go with the trial
        kill_live()
        atomic_write(trial_dir / "trial.json", json.dumps({**record, "status": "stopped", "epochs_reported": reported},
                                                          indent=2, default=str))
        raise
    final = summarize(jobs, ctx["data_yaml"], results)
    record.update(status="finished" if final["ok"] else "failed", failed=final["failed"],
                  finished=datetime.datetime.now().isoformat(timespec="seconds"))
    atomic_write(trial_dir / "trial.json", json.dumps(record, indent=2, default=str))
    raytune.report({"epoch": epochs, "final": True, **{m: final["mean"][m] for m in METRICS}})


def summarize(jobs: list, data_yaml: str, results: dict) -> dict:
    """Mean over the seeds of every metric, only when every seed finished (a partial trial is never averaged)."""
    failed = {j.label: results.get(j.label, (None, "not run", 0))[1] for j in jobs
              if results.get(j.label, (None,))[0] is None}
    ok = not failed
    per = [results[j.label][0] for j in jobs] if ok else []
    return {"ok": ok, "failed": failed,
            "mean": {m: mean(p[m] for p in per) if ok else math.nan for m in METRICS},
            "wider": expects_wider(data_yaml, jobs[0].run.config)}
