"""A hyperparameter search with Ray Tune over any extension or ultralytics key, our trainer inside every trial.

Not ultralytics' ``model.tune()``: that forces AdamW (breaking the YOLOv5 SGD baseline), optimises mAP50-95 and
trains through the stock CLI, bypassing our trainer. Here: random search (Ray Tune's ``BasicVariantGenerator``,
seeded) over a ``space.Space``; ``fifo`` trains every trial for its full schedule, ``asha`` (Li et al., "A System for
Massively Parallel Hyperparameter Tuning", MLSys 2020) stops trials early on the per-epoch validation mAP50. The
objective, ``--metric`` (WIDER hard AP by default; mAP50 for data without a ``widerface:`` section), is read from
each trial's own files at the end.

Outputs in ``out``: ``trials.md`` / ``trials.csv`` (every trial: status, seeds, the searched values, metrics),
``best_hyp.yaml`` (the best trial's trainer settings) and ``best_plan.yaml`` (an ablation plan with the base as the
baseline row and the best trial as a row, to measure on held-out seeds with ``python -m yolo_ext.ablate``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import yaml

from ..ablate.collect import METRICS, RunResultError, collect_run
from ..ablate.rayexec import init_ray, require_ray
from ..ablate.runner import check_writable, expects_wider
from ..utils.files import atomic_write
from ..utils.locks import DirLock
from .space import Space
from .trial import run_trial, trial_jobs

try:
    import ray
    from ray import tune as raytune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search import BasicVariantGenerator
except ImportError:  # optional: pip install -e .[ray]
    ray = raytune = None

OBJECTIVES = ("hard", "medium", "easy", "mAP50", "mAP50-95")
BUDGET_KEYS = {"model", "epochs", "imgsz", "batch", "device", "workers"}  # train.py sets these by flags, not --hyp


def objective(metric: str, space: Space, data_yaml: str) -> str:
    """``metric``, or mAP50 when it is a WIDER AP and the data has no ``widerface:`` section."""
    if metric not in OBJECTIVES:
        raise ValueError(f"--metric must be one of {list(OBJECTIVES)}, got {metric!r}")
    if metric in ("hard", "medium", "easy") and not expects_wider(data_yaml, space.base):
        return "mAP50"
    return metric


def run_search(space: Space, out, data_yaml: str, samples: int, metric: str = "hard", scheduler: str = "fifo",
               executor: str = "local", seeds: tuple = (0,), jobs: int = 1, address=None, cpus_per_run: float = 1.0,
               gpus_per_run: float = 0.0, retries: int = 1, search_seed: int = 0, num_cpus=None, dashboard=None,
               timeout=None, log=print) -> dict:
    """Run the search; returns ``{"metric", "rows", "best", "files"}`` (see ``collect_trials``)."""
    require_ray()
    if samples < 1:
        raise ValueError(f"--samples must be >= 1, got {samples}")
    if scheduler not in ("fifo", "asha"):
        raise ValueError(f"--scheduler must be fifo or asha, got {scheduler!r}")
    if scheduler == "asha" and space.base.get("val") is False:
        raise ValueError("--scheduler asha compares trials on the per-epoch validation mAP50: base has val: false")
    metric = objective(metric, space, data_yaml)
    out = Path(out).resolve()
    check_writable(out)
    trial_jobs(out / "trials" / "check", {**space.base, **{d.key: d.values_to_check()[0] for d in space.dists}},
               list(seeds))  # the trial configuration builds (check_config), nothing is created
    # a second search on the same --out stops here, naming this process (the trials and Ray's state live there)
    lock = DirLock(out, "tune output directory")
    try:
        started, url = init_ray(address if executor == "ray" else None, num_cpus, None, dashboard)
        try:
            if url:
                log(f"tune: Ray dashboard {url}")
            epochs = int(space.base.get("epochs", 100))
            sched = (ASHAScheduler(time_attr="epoch", metric="mAP50", mode="max", max_t=epochs, grace_period=1,
                                   reduction_factor=2) if scheduler == "asha" else FIFOScheduler())
            ctx = {"base": space.base, "data_yaml": data_yaml, "out": str(out), "seeds": list(seeds), "metric": metric,
                   "timeout": timeout, "retries": retries, "gpus": gpus_per_run}
            trainable = raytune.with_resources(raytune.with_parameters(run_trial, ctx=ctx),
                                               {"cpu": cpus_per_run * len(seeds), "gpu": gpus_per_run * len(seeds)})
            log(f"tune: {samples} trial(s) of {space.keys} on {len(seeds)} seed(s) {list(seeds)}, scheduler {scheduler}, "
                f"objective {metric} -> {out}")
            tuner = raytune.Tuner(
                trainable, param_space={d.key: d.to_tune() for d in space.dists},
                tune_config=raytune.TuneConfig(num_samples=samples, scheduler=sched, reuse_actors=False,
                                               max_concurrent_trials=jobs if executor == "local" else None,
                                               search_alg=BasicVariantGenerator(random_state=search_seed)),
                run_config=raytune.RunConfig(name="ray_tune", storage_path=str(out / "ray"), verbose=0,
                                             failure_config=raytune.FailureConfig(max_failures=retries)))
            tuner.fit()
        finally:
            if started and ray.is_initialized():
                ray.shutdown()
        rows, best = collect_trials(out, space, data_yaml, metric)
        files = write_outputs(out, space, rows, best, metric)
        return {"metric": metric, "rows": rows, "best": best, "files": files}
    finally:
        lock.release()


def collect_trials(out: Path, space: Space, data_yaml: str, metric: str) -> tuple:
    """Every trial's row, read back from its own directory (``trial.json`` and each seed's run files); the best is
    the finished trial with the highest mean ``metric`` (ties: the first trial started)."""
    rows = []
    for d in sorted((out / "trials").glob("*/trial.json")):
        rec = json.loads(d.read_text())
        row = {"trial": rec["trial"], "status": rec["status"], "seeds": rec["seeds"], "started": rec["started"],
               "config": rec["config"]}
        per = []
        for job in trial_jobs(d.parent, {**space.base, **rec["config"]}, rec["seeds"]):
            try:
                per.append(collect_run(job.dir, expects_wider(data_yaml, job.run.config)))
            except RunResultError as e:
                row.setdefault("problems", []).append(f"seed {job.seed}: {e}")
        complete = rec["status"] == "finished" and len(per) == len(rec["seeds"])
        for m in METRICS:
            vals = [p[m] for p in per]
            row[m] = sum(vals) / len(vals) if complete and not any(math.isnan(v) for v in vals) else math.nan
        rows.append(row)
    rows.sort(key=lambda r: r["started"])
    done = [r for r in rows if not math.isnan(r[metric])]
    best = max(done, key=lambda r: r[metric]) if done else None
    return rows, best


def _fmt(v) -> str:
    return "n/a" if isinstance(v, float) and math.isnan(v) else (f"{v:.4g}" if isinstance(v, float) else str(v))


def write_outputs(out: Path, space: Space, rows: list, best, metric: str) -> dict:
    keys = space.keys
    cols = ["trial", "status", "seeds", *keys, *METRICS]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols)
    for r in rows:
        w.writerow([r["trial"], r["status"], " ".join(map(str, r["seeds"])), *[r["config"].get(k) for k in keys],
                    *["NA" if math.isnan(r[m]) else repr(r[m]) for m in METRICS]])
    files = {"csv": atomic_write(out / "trials.csv", buf.getvalue())}
    md = [f"# Search: {space.name}", "", f"- Space: `{space.path}`; objective: {metric} (mean over each trial's seeds)",
          f"- Trials: {len(rows)}, finished: {sum(not math.isnan(r[metric]) for r in rows)}", "",
          "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        star = "**" if best is not None and r["trial"] == best["trial"] else ""
        md.append("| " + " | ".join([star + r["trial"] + star, r["status"], " ".join(map(str, r["seeds"]))]
                                   + [_fmt(r["config"].get(k)) for k in keys] + [_fmt(r[m]) for m in METRICS]) + " |")
    if best is None:
        md += ["", "No trial finished: no best configuration."]
    else:
        md += ["", f"Best: trial `{best['trial']}`, {metric} {best[metric]:.4f}: "
               + ", ".join(f"{k}={best['config'][k]!r}" for k in keys)]
        hyp = {k: v for k, v in {**space.base, **best["config"]}.items() if k not in BUDGET_KEYS}
        head = (f"# best trial {best['trial']} of {out} ({metric} {best[metric]:.4f}); train with\n"
                f"#   train.py --hyp best_hyp.yaml --cfg {space.base['model']} --epochs {space.base.get('epochs')} "
                f"--imgsz {space.base.get('imgsz')}\n")
        files["hyp"] = atomic_write(out / "best_hyp.yaml", head + yaml.safe_dump(hyp, sort_keys=False))
        plan = {"name": f"{space.name}-best", "description": f"the base vs the best trial of {out}; measure on seeds "
                "the search did not use: python -m yolo_ext.ablate --plan best_plan.yaml --seeds 3 --seed-start 100",
                "data": space.data, "seeds": 3, "base": space.base,
                "runs": [{"name": "base", "baseline": True, "overrides": {}},
                         {"name": "tuned", "description": f"trial {best['trial']}", "overrides": best["config"]}]}
        files["plan"] = atomic_write(out / "best_plan.yaml", yaml.safe_dump(plan, sort_keys=False))
    files["md"] = atomic_write(out / "trials.md", "\n".join(md) + "\n")
    return files
