"""One ablation run in its own process: ``python -m yolo_ext.ablate.worker CONFIG.json``.

CONFIG.json holds the complete AnchorTrainer overrides (``project``, ``name``, ``seed`` included). A separate process
per run means a crash or out-of-memory in one configuration fails that run only, and all of its memory (host and
GPU) is returned before the next run starts. Writes ``env.json`` (machine and library versions) into the run
directory before training, so the report can say where every number was produced.

``YOLO_EXT_CPUS=0,1`` in the environment (set by ``executors.LocalExecutor`` for parallel CPU runs) pins the process
to those cores before any thread pool starts, and a CPU run then trains on one torch thread per core of its share.
ultralytics' ``select_device`` (called by the trainer's constructor) resets torch's pool to
``min(8, os.cpu_count() - 1)`` threads, counted over the whole machine and not over the process's affinity, so without
the reset here K parallel runs on a 16-core machine would each start 8 threads on their 16 / K cores. The number of
threads is recorded in ``env.json`` (``torch_threads``): CPU results can differ in the last bits with it.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

import torch
import ultralytics

from ..engine.trainer import AnchorTrainer
from ..utils.files import atomic_write


def machine_info(device: str = "") -> dict:
    """CPU, GPU (when training on CUDA), library versions of this process.

    ``cpu_capability`` is the instruction set torch's CPU kernels dispatch to (``AVX2``, ``AVX512``, ...). Two
    machines whose CPUs share a model name ("AMD EPYC") can train the same run to different numbers: the default-data
    yolov5 run, seed 0, gave hard AP 0.2910 on earlier sessions' 2-core EPYC machines and 0.2566 on an AVX2 one with
    the same code and libraries (which instruction set the earlier ones used was not recorded then)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    use_cuda = torch.cuda.is_available() and str(device).lower() not in ("cpu", "mps")
    gpu = torch.cuda.get_device_name(0) if use_cuda else "none"
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "gpu": gpu, "torch": torch.__version__,
            "ultralytics": ultralytics.__version__, "python": platform.python_version(), "host": platform.node()}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m yolo_ext.ablate.worker CONFIG.json", file=sys.stderr)
        return 2
    os.environ.setdefault("YOLO_OFFLINE", "1")
    cores = {int(c) for c in os.environ.get("YOLO_EXT_CPUS", "").split(",") if c.strip()}  # the executor's share
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    overrides = json.loads(Path(argv[0]).read_text())
    run_dir = Path(overrides["project"]) / overrides["name"]
    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = AnchorTrainer(overrides=overrides)  # select_device: resets torch's CPU threads (module docstring)
    on_cpu = trainer.device.type == "cpu"
    if cores and on_cpu:
        torch.set_num_threads(len(cores))
    env = machine_info(overrides.get("device", ""))
    env["torch_threads"] = torch.get_num_threads() if on_cpu else None
    atomic_write(run_dir / "env.json", json.dumps(env, indent=2))
    trainer.train()
    return 0


if __name__ == "__main__":
    sys.exit(main())
