"""Benchmark: wall time of a 4-run tiny ablation plan (2 configurations x 2 seeds) with the three executors.

Sides: ``local --jobs 1`` (today's serial loop, the baseline), ``local --jobs 2`` (two runs at a time, one core
each) and ``ray`` (a local Ray instance with 2 CPUs, 1 CPU per run). The sides are interleaved over ``--rounds``
rounds (the order rotates every round) so machine load drifts over all of them alike; each sweep trains into a
fresh directory. Prints per side the median and range of the sweep wall time, the speed-up over ``--jobs 1``, and
Ray's overhead: the start-up (``ray.init`` plus the shared-directory probe on every node) and, per run, the rest of
the difference to ``local --jobs 2`` (same parallelism) divided by the number of runs.

    python bench/bench_executors.py [--rounds 2] [--epochs 1] [--imgsz 64]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
from yolo_ext.ablate import load_plan, run_plan  # noqa: E402
from yolo_ext.ablate.executors import LocalExecutor  # noqa: E402
from yolo_ext.ablate.rayexec import RayExecutor  # noqa: E402
from yolo_ext.ablate.tinydata import ensure_tiny_dataset, resolve_plan_data  # noqa: E402


def write_plan(tmp: Path, epochs: int, imgsz: int) -> Path:
    data = ensure_tiny_dataset("blobs", cache=tmp / "datasets")
    plan = {"name": "bench", "data": str(data),
            "base": {"model": "yolov5n-1a.yaml", "epochs": epochs, "imgsz": imgsz, "batch": 8, "device": "cpu",
                     "workers": 0, "plots": False},
            "runs": [{"name": "a", "overrides": {"assigner": "yolov5"}},
                     {"name": "b", "overrides": {"assigner": "radius", "obj_loss": "vfl"}}]}
    p = tmp / "plan.yaml"
    p.write_text(yaml.safe_dump(plan, sort_keys=False))
    return p


def sweep(plan, data_yaml: str, out: Path, executor) -> tuple:
    """(wall seconds of the whole sweep, seconds spent in executor.prepare)."""
    spent = [0.0]
    prepare = executor.prepare

    def timed(*a, **k):
        t = time.perf_counter()
        prepare(*a, **k)
        spent[0] = time.perf_counter() - t

    executor.prepare = timed
    t0 = time.perf_counter()
    s = run_plan(plan, out, 2, data_yaml, log=lambda *_: None, executor=executor)
    wall = time.perf_counter() - t0
    if s["failed"] or len(s["launched"]) != 4:
        raise SystemExit(f"sweep in {out} failed: {s}")
    return wall, spent[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--imgsz", type=int, default=64)
    a = ap.parse_args()
    sides = {"local --jobs 1": lambda: LocalExecutor(jobs=1), "local --jobs 2": lambda: LocalExecutor(jobs=2),
             "ray (2 CPUs)": lambda: RayExecutor(num_cpus=2, cpus_per_run=1.0, dashboard=False)}
    names = list(sides)
    walls = {n: [] for n in names}
    init = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plan_path = write_plan(tmp, a.epochs, a.imgsz)
        plan = load_plan(plan_path)
        data_yaml = resolve_plan_data(plan.data)
        print(f"4 runs ({a.epochs} epoch(s), {a.imgsz} px, tiny blobs) per sweep; {os.cpu_count()} CPUs; "
              f"load average before: {os.getloadavg()[0]:.2f}")
        for r in range(a.rounds):
            order = names[r % 3:] + names[:r % 3]
            for n in order:
                wall, prep = sweep(plan, data_yaml, tmp / f"r{r}-{n.split()[0]}{len(walls[n])}-{names.index(n)}", sides[n]())
                walls[n].append(wall)
                if n.startswith("ray"):
                    init.append(prep)
                print(f"round {r + 1}: {n:15s} {wall:6.1f} s  (load {os.getloadavg()[0]:.2f})", flush=True)
    base = statistics.median(walls[names[0]])
    print("\nside             median   range          speed-up vs --jobs 1")
    for n in names:
        m = statistics.median(walls[n])
        print(f"{n:15s} {m:6.1f} s  {min(walls[n]):6.1f}-{max(walls[n]):6.1f} s   {base / m:.2f}x")
    ray_m, par_m, init_m = statistics.median(walls[names[2]]), statistics.median(walls[names[1]]), statistics.median(init)
    print(f"\nRay start-up (init + shared-dir probe): {init_m:.1f} s (range {min(init):.1f}-{max(init):.1f}); "
          f"per-run overhead beyond local --jobs 2: {(ray_m - init_m - par_m) / 4:+.1f} s")


if __name__ == "__main__":
    main()
