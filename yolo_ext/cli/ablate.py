"""``python -m yolo_ext.ablate --plan PLAN.yaml --seeds N --out DIR`` (see ``--help``)."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from pathlib import Path

from ..ablate.aggregate import aggregate
from ..ablate.executors import LocalExecutor
from ..ablate.rayexec import RayExecutor, RayUnavailable
from ..ablate.plan import PlanError, load_plan
from ..ablate.records import Recorder, RecordsError, matching, read_records
from ..ablate.report import write_report
from ..ablate.runner import OutputDirError, check_done, make_jobs, run_plan
from ..ablate.tinydata import resolve_plan_data
from ..config.errors import ConfigError
from ..config.paths import DATA
from ..utils.locks import DirLockError

QUICK_PLAN = DATA / "ablations" / "quick.yaml"


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m yolo_ext.ablate",
        description="Run every configuration of an ablation plan for N seeds on the same data and compute budget "
                    "(resumable: finished runs are skipped, interrupted ones restart), then write "
                    "results.md / results.csv / results.png with mean ± std over seeds.",
    )
    ap.add_argument("--plan", default=None, help="plan YAML (e.g. data/ablations/study.yaml)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 per configuration (default: the plan's)")
    ap.add_argument("--seed-start", type=int, default=0,
                    help="first seed (default 0): seeds K..K+N-1, e.g. held-out seeds for choosing a configuration "
                         "before measuring it on seeds 0..N-1")
    ap.add_argument("--out", default=None, help="output directory (default: runs/ablate/<plan name>)")
    ap.add_argument("--quick", action="store_true", help=f"CI smoke test: {QUICK_PLAN.name} (tiny data, 1 epoch)")
    ap.add_argument("--device", default=None, help="override the plan's device for every run, e.g. 0 or cpu")
    ap.add_argument("--timeout", type=float, default=None, help="kill a run after this many seconds (marked failed)")
    ap.add_argument("--records", default=None, metavar="FILE",
                    help="records file (JSON lines, small enough to commit, e.g. docs/records/study-v2.jsonl): every "
                         "finished run is recorded there with what the reports need (with --aggregate-only too), "
                         "and a run recorded with the same settings is not trained again even when its run "
                         "directory is gone")
    ap.add_argument("--aggregate-only", action="store_true", help="train nothing; tabulate what has finished")
    ap.add_argument("--verbose", action="store_true", help="stream each run's training output (always in train.log)")
    ex = ap.add_argument_group("executors (where the runs train; the numbers do not depend on it)")
    ex.add_argument("--executor", choices=("local", "ray"), default="local",
                    help="local: this machine, --jobs runs at a time (default); ray: one Ray task per run")
    ex.add_argument("--jobs", type=int, default=1,
                    help="local: runs at a time, each on its own --devices entry or its own share of the CPU cores "
                         "(default 1: one after the other)")
    ex.add_argument("--devices", default=None, help="local: devices for the parallel runs, e.g. 0,1,2,3 (run slot i "
                                                    "gets device i mod 4)")
    ex.add_argument("--retries", type=int, default=1,
                    help="restart a run from scratch this many times when its process or Ray node dies (default 1)")
    ex.add_argument("--ray-address", default=None,
                    help="ray: join this cluster (auto or HOST:PORT); default: start Ray on this machine")
    ex.add_argument("--gpus-per-run", type=float, default=0.0,
                    help="ray: GPUs per run; fractional to share a GPU (0.25: four runs per GPU), 2 or more: DDP")
    ex.add_argument("--cpus-per-run", type=float, default=1.0, help="ray: CPUs per run (default 1)")
    ex.add_argument("--ray-num-cpus", type=int, default=None,
                    help="ray, without --ray-address: CPUs of the local Ray instance (default: all cores)")
    ex.add_argument("--no-dashboard", action="store_true", help="ray: do not start the Ray dashboard")
    return ap


def make_executor(a):
    """The executor of the parsed flags. Raises ValueError / RayUnavailable (Ray not installed) with the fix."""
    if a.retries < 0:
        raise ValueError(f"--retries must be >= 0, got {a.retries}")
    if a.executor == "ray":
        if a.jobs != 1 or a.devices:
            raise ValueError("--jobs / --devices are for --executor local; Ray places runs by --cpus-per-run and "
                             "--gpus-per-run")
        return RayExecutor(a.ray_address, a.gpus_per_run, a.cpus_per_run, a.retries, num_cpus=a.ray_num_cpus,
                           dashboard=False if a.no_dashboard else None)
    if a.ray_address or a.gpus_per_run or a.ray_num_cpus:
        raise ValueError("--ray-address / --gpus-per-run / --ray-num-cpus need --executor ray")
    return LocalExecutor(a.jobs, a.devices, a.retries)


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")

    if bool(a.plan) == a.quick:
        parser().error("give either --plan PLAN.yaml or --quick")
    try:
        plan = load_plan(a.plan or QUICK_PLAN)
    except PlanError as e:
        print(f"ablate: {e}", file=sys.stderr)
        return 2
    seeds = a.seeds if a.seeds is not None else plan.seeds
    if seeds < 1:
        parser().error("--seeds must be >= 1")
    if a.seed_start < 0:
        parser().error("--seed-start must be >= 0")
    out = Path(a.out or Path("runs") / "ablate" / plan.name).resolve()
    try:
        executor = make_executor(a)
    except (ValueError, RayUnavailable) as e:
        print(f"ablate: {e}", file=sys.stderr)
        return 2
    try:
        data_yaml = resolve_plan_data(plan.data)
    except (FileNotFoundError, ConfigError) as e:  # a dataset that is not local (nothing is downloaded)
        print(f"ablate: {e}", file=sys.stderr)
        return 2
    failed = {}
    signal.signal(signal.SIGTERM, _interrupt)  # a scheduler's SIGTERM stops the sweep like Ctrl-C (workers killed)
    if not a.aggregate_only:
        try:
            summary = run_plan(plan, out, seeds, data_yaml, device=a.device, timeout=a.timeout, stream=a.verbose,
                               seed_start=a.seed_start, executor=executor, records=a.records)
            failed = summary["failed"]
        except (OutputDirError, RayUnavailable, DirLockError, RecordsError) as e:  # output dir not writable / not shared /
            # in use by another runner (touch nothing), cluster not reachable
            print(f"ablate: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("\nablate: interrupted; unfinished runs restart from scratch when the same command is rerun",
                  file=sys.stderr)
            return 130
    command = shlex.join(["python", "-m", "yolo_ext.ablate", *(sys.argv[1:] if argv is None else argv)])
    try:
        if a.aggregate_only and a.records:  # tabulating also records what has finished (the sweep may be running)
            done = [(j, check_done(j, data_yaml)[0]) for j in make_jobs(plan, seeds, out, a.seed_start)]
            Recorder(a.records, plan, data_yaml).record([(j, m) for j, m in done if m is not None])
        recorded = matching(read_records(a.records), plan, data_yaml)[0] if a.records else None
    except RecordsError as e:
        print(f"ablate: {e}", file=sys.stderr)
        return 2
    agg = aggregate(plan, out, seeds, data_yaml, a.seed_start, records=recorded)
    files = write_report(agg, out, command)
    print(files["md"].read_text())
    print("ablate: wrote " + ", ".join(str(p) for p in files.values()))
    missing = len(agg.failures)
    if missing:
        print(f"ablate: {missing} run(s) failed or missing (listed above); their seeds are excluded from the means",
              file=sys.stderr)
    return 1 if failed or missing else 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
