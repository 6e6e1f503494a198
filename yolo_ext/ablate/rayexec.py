"""Ray executor: every (configuration, seed) of a sweep is one Ray task (``--executor ray``).

A task declares ``--cpus-per-run`` CPUs and ``--gpus-per-run`` GPUs (fractional: several small runs share a GPU;
2 or more: the run trains with ultralytics' DDP on the task's GPUs) and calls ``runner.run_attempts``: the same
isolated worker process as the local executor, so a run is bit-identical whichever executor trains it. Ray sets
``CUDA_VISIBLE_DEVICES`` for the task; the trainer gets ``device=0`` (or ``0,1``: torch indices within those).

``--ray-address auto|HOST:PORT`` joins a running cluster; without it a private Ray instance is started on this
machine and shut down at the end. Ray runs offline (usage statistics off; the dashboard only when its packages are
installed, and never in the tests). Before any training, a probe task on every node checks that the output
directory is the same shared directory there (a token written here reads back) and writable, and that the dataset
YAML exists: a node that fails stops the sweep with the node and the reason.

Faults: a task whose Ray worker process or node dies is retried from scratch (``max_retries=--retries``); a worker
process killed by a signal inside a live task is retried by ``run_attempts`` itself. Ctrl-C cancels every
outstanding task (``ray.cancel(force=True)`` kills their workers, whose training processes die with them); the
finished runs keep their ``done.json`` and the same command resumes.
"""

from __future__ import annotations

import json
import math
import os
import platform
import secrets
from pathlib import Path

from ..utils.files import atomic_write
from ..utils.repo import ROOT
from .runner import check_writable, run_attempts

try:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
except ImportError:  # optional: pip install -e .[ray]
    ray = None

EXTRA_HINT = "pip install -e '.[ray]'  (or: pip install 'ray[tune]==2.60.0')"


class RayUnavailable(RuntimeError):
    """Ray is not installed, or a cluster could not be joined / a node cannot see the shared directories."""


def require_ray():
    if ray is None:
        raise RayUnavailable(f"--executor ray needs Ray, which is not installed: {EXTRA_HINT}")
    return ray


def worker_env() -> dict:
    """Environment of every Ray worker: offline, no usage statistics, this checkout importable."""
    return {"YOLO_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0",
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}


def init_ray(address=None, num_cpus=None, num_gpus=None, dashboard=None) -> tuple:
    """Join ``address`` or start a local Ray instance; returns ``(started here, dashboard URL or None)``.
    ``dashboard``: None lets Ray decide (on when its packages are installed), False never."""
    require_ray()
    os.environ.update({k: v for k, v in worker_env().items() if k != "PYTHONPATH"})
    os.environ["PYTHONPATH"] = worker_env()["PYTHONPATH"]  # a local instance's workers inherit it
    if ray.is_initialized():
        return False, None
    kw = {"runtime_env": {"env_vars": worker_env()}, "log_to_driver": False, "logging_level": "ERROR"}
    try:
        if address:
            ctx = ray.init(address=address, **kw)
        else:
            ctx = ray.init(num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=dashboard,
                           object_store_memory=200 * 2**20, **kw)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise RayUnavailable(f"cannot start or join Ray (address {address or 'local'}): {e}") from None
    url = getattr(ctx, "dashboard_url", None)
    return True, (f"http://{url}" if url and not str(url).startswith("http") else url) or None


def cluster_slots(cpus_per_run: float, gpus_per_run: float) -> int:
    """How many runs the cluster's resources fit at once."""
    res = ray.cluster_resources()
    n = math.floor(res.get("CPU", 0) / cpus_per_run + 1e-9) if cpus_per_run > 0 else 10**6
    if gpus_per_run > 0:
        n = min(n, math.floor(res.get("GPU", 0) / gpus_per_run + 1e-9))
    return max(n, 0)


def _probe(out: str, token_file: str, token: str, data_yaml: str):
    """On one node: None when ``out`` is the shared directory (the token reads back), writable, and the data YAML
    exists; else the reason, naming the host."""
    host = platform.node()
    path = Path(out) / token_file
    try:
        seen = path.read_text()
    except OSError as e:
        return f"node {host}: cannot read {path} ({e.strerror or e}): {out} is not on storage shared with the driver"
    if seen != token:
        return f"node {host}: {path} holds other content: {out} there is a different directory, not shared storage"
    try:
        check_writable(out)
    except OSError as e:
        return f"node {host}: {e}"
    if not Path(data_yaml).is_file():
        return f"node {host}: dataset YAML {data_yaml} not found (the data must be on shared storage too)"
    return None


def check_shared_dir(out: Path, data_yaml: str, timeout: float = 300.0) -> None:
    """Run ``_probe`` on every alive node; raises RayUnavailable listing every node that fails."""
    token_file = f".ray-visibility-{secrets.token_hex(4)}"
    token = secrets.token_hex(16)
    atomic_write(out / token_file, token)
    try:
        probe = ray.remote(num_cpus=0, max_retries=0)(_probe)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote(str(out), token_file, token, str(data_yaml)) for n in nodes]
        errors = [e for e in ray.get(refs, timeout=timeout) if e]
    finally:
        (out / token_file).unlink(missing_ok=True)
    if errors:
        raise RayUnavailable("the output directory must be visible and writable on every node; " + "; ".join(errors))


def _train_task(job, data_yaml, device, timeout, gpus_per_run, retries):
    """One run inside a Ray task (see the module docstring for the device)."""
    if gpus_per_run > 0:
        device = ",".join(str(i) for i in range(max(1, math.floor(gpus_per_run + 1e-9))))
    return run_attempts(job, data_yaml, device, timeout, False, None, retries, "ray")


class RayExecutor:
    """Each run a Ray task with declared resources; see the module docstring."""

    name = "ray"

    def __init__(self, address=None, gpus_per_run: float = 0.0, cpus_per_run: float = 1.0, retries: int = 1,
                 num_cpus=None, dashboard=None):
        require_ray()
        if gpus_per_run < 0 or cpus_per_run < 0 or (gpus_per_run > 1 and gpus_per_run != int(gpus_per_run)):
            raise ValueError(f"--gpus-per-run must be a fraction of one GPU or a whole number, got {gpus_per_run}; "
                             f"--cpus-per-run >= 0, got {cpus_per_run}")
        self.address, self.gpus, self.cpus, self.retries = address, gpus_per_run, cpus_per_run, retries
        self.num_cpus, self.dashboard, self.started, self.slots = num_cpus, dashboard, False, 1

    def parallelism(self, left: int) -> int:
        return max(1, min(self.slots, left))

    def prepare(self, out: Path, data_yaml: str, log=print) -> None:
        check_writable(out)  # here first: no Ray started for a typo in --out
        self.started, url = init_ray(self.address, self.num_cpus, None, self.dashboard)
        try:
            self.slots = cluster_slots(self.cpus, self.gpus)
            res = ray.cluster_resources()
            log(f"ablate: Ray {ray.__version__} at {self.address or 'a local instance'}: "
                f"{len([n for n in ray.nodes() if n.get('Alive')])} node(s), {res.get('CPU', 0):g} CPUs, "
                f"{res.get('GPU', 0):g} GPUs; {self.cpus:g} CPU + {self.gpus:g} GPU per run -> {self.slots} at a time"
                + (f"; dashboard {url}" if url else ""))
            if self.slots < 1:
                raise RayUnavailable(f"no node has {self.cpus:g} CPUs and {self.gpus:g} GPUs for a run "
                                     f"(cluster: {dict(res)})")
            check_shared_dir(out, data_yaml)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.started and ray.is_initialized():
            ray.shutdown()
        self.started = False

    def run(self, jobs, data_yaml, device, timeout, stream, on_start, on_done) -> None:
        task = ray.remote(_train_task).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=self.retries,
                                               retry_exceptions=False)
        refs = {}
        try:
            for job in jobs:
                refs[task.remote(job, data_yaml, device, timeout, self.gpus, self.retries)] = job
                on_start(job, "queued as a Ray task")
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=1.0)
                for ref in ready:
                    job = refs.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as e:  # worker or node died more than --retries times
                        result = self._lost(job, e)
                    on_done(job, *result)
        except BaseException:
            for ref in refs:
                ray.cancel(ref, force=True)  # kills the task's worker; its training process dies with it
            raise
        finally:
            self.close()

    def _lost(self, job, error) -> tuple:
        lines = str(error).strip().splitlines()
        if isinstance(error, ray.exceptions.RayTaskError):  # the runner itself raised (not retried: it would again)
            reason = f"runner error in the Ray task: {lines[-1] if lines else type(error).__name__}"
        else:  # the worker process or its node died on every attempt
            reason = f"Ray task lost after {self.retries + 1} attempt(s): {type(error).__name__}: " + (lines or [""])[0]
        if job.dir.is_dir() and not (job.dir / "done.json").exists():
            atomic_write(job.dir / "failed.json", json.dumps({"run": job.run.name, "seed": job.seed, "reason": reason}))
        return None, reason, 0.0
