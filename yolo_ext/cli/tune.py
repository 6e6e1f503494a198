"""``python -m yolo_ext.tune --space SPACE.yaml --samples N --metric hard`` (see ``--help``)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from ..ablate.rayexec import RayUnavailable
from ..ablate.runner import OutputDirError
from ..ablate.tinydata import resolve_plan_data
from ..tune.search import OBJECTIVES, run_search
from ..tune.space import SpaceError, load_space
from ..utils.locks import DirLockError


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m yolo_ext.tune",
        description="Hyperparameter search with Ray Tune over any yolo-ext or ultralytics key, our trainer in every "
                    "trial; writes trials.md / trials.csv, best_hyp.yaml and best_plan.yaml (measure the best on "
                    "held-out seeds with python -m yolo_ext.ablate). Needs the [ray] extra.")
    ap.add_argument("--space", required=True, help="search-space YAML: data, base, space (see yolo_ext/tune/space.py)")
    ap.add_argument("--samples", type=int, default=8, help="number of trials (default 8)")
    ap.add_argument("--metric", default="hard", choices=OBJECTIVES,
                    help="objective to maximise (default hard: WIDER hard AP; mAP50 for data without a WIDER section)")
    ap.add_argument("--scheduler", default="fifo", choices=("fifo", "asha"),
                    help="fifo: every trial runs its full schedule; asha: stop weak trials early on per-epoch mAP50")
    ap.add_argument("--out", default=None, help="output directory (default: runs/tune/<space name>)")
    ap.add_argument("--seeds-per-trial", type=int, default=1, help="seeds each trial averages (trained concurrently)")
    ap.add_argument("--seed-start", type=int, default=0,
                    help="first training seed of every trial (default 0; then measure the best on other seeds)")
    ap.add_argument("--search-seed", type=int, default=0, help="seed of the random search itself")
    ap.add_argument("--executor", choices=("local", "ray"), default="local",
                    help="local: a Ray instance on this machine, --jobs trials at a time; ray: trials on the cluster "
                         "of --ray-address, as many at a time as its resources fit")
    ap.add_argument("--jobs", type=int, default=1, help="local: trials at a time (default 1)")
    ap.add_argument("--ray-address", default=None, help="ray: auto or HOST:PORT (default: start Ray here)")
    ap.add_argument("--ray-num-cpus", type=int, default=None, help="CPUs of a Ray instance started here (default all)")
    ap.add_argument("--cpus-per-run", type=float, default=1.0, help="CPUs per seed of a trial (default 1)")
    ap.add_argument("--gpus-per-run", type=float, default=0.0, help="GPUs per seed of a trial (fractional allowed)")
    ap.add_argument("--retries", type=int, default=1, help="restart a trial whose process or node dies (default 1)")
    ap.add_argument("--timeout", type=float, default=None, help="kill a seed's training after this many seconds")
    ap.add_argument("--no-dashboard", action="store_true", help="do not start the Ray dashboard")
    return ap


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    for flag, v, lo in (("--samples", a.samples, 1), ("--seeds-per-trial", a.seeds_per_trial, 1), ("--jobs", a.jobs, 1),
                        ("--retries", a.retries, 0), ("--seed-start", a.seed_start, 0)):
        if v < lo:
            parser().error(f"{flag} must be >= {lo}")
    try:
        space = load_space(a.space)
        data_yaml = resolve_plan_data(space.data)
        out = Path(a.out or Path("runs") / "tune" / space.name).resolve()
        signal.signal(signal.SIGTERM, _interrupt)
        res = run_search(space, out, data_yaml, a.samples, a.metric, a.scheduler, a.executor,
                         tuple(range(a.seed_start, a.seed_start + a.seeds_per_trial)), a.jobs, a.ray_address,
                         a.cpus_per_run, a.gpus_per_run, a.retries, a.search_seed, a.ray_num_cpus,
                         False if a.no_dashboard else None, a.timeout)
    except (SpaceError, OutputDirError, RayUnavailable, ValueError, FileNotFoundError, DirLockError) as e:
        print(f"tune: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ntune: interrupted; the finished trials are in the output directory", file=sys.stderr)
        return 130
    print(res["files"]["md"].read_text())
    print("tune: wrote " + ", ".join(str(p) for p in res["files"].values()))
    return 0 if res["best"] is not None else 1


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
