"""Local executor: K runs of a sweep at a time on this machine (``--executor local --jobs K --devices 0,1``).

Each of the K slots is a thread that takes the next pending run and trains it in its own worker process
(``runner.run_attempts``), pinned to the slot's device: ``--devices 0,1,2,3`` gives slot i device i mod 4 (so K
larger than the device count shares devices round-robin); without ``--devices`` or on CPU, slot i gets its own
``cpu_count // K`` cores
(``YOLO_EXT_CPUS``: the worker's CPU affinity, and ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` so torch sizes its
thread pool to the share). ``jobs=1`` is ``runner.SerialExecutor``: today's one-at-a-time loop, unchanged.

Ctrl-C (or SIGTERM) kills every running worker process (``runner.kill_live``); those runs are left incomplete and
restart from scratch on the next sweep, finished ones are kept.
"""

from __future__ import annotations

import os
import queue
import threading

from .runner import STOP, SerialExecutor, kill_live, run_attempts


def parse_devices(spec) -> list:
    """``"0,1,2"`` -> ``["0", "1", "2"]``; ``None`` / ``""`` -> ``[]`` (use the plan's or ``--device``)."""
    return [d.strip() for d in str(spec or "").split(",") if d.strip()]


def cpu_shares(jobs: int, cpus=None) -> list:
    """``jobs`` disjoint, equal sets of this process's cores (at least one each; cores are shared round-robin when
    there are fewer cores than jobs)."""
    cpus = sorted(cpus if cpus is not None else (os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity")
                                                 else range(os.cpu_count() or 1)))
    per = max(1, len(cpus) // jobs)
    if len(cpus) < jobs:
        return [[cpus[i % len(cpus)]] for i in range(jobs)]
    return [cpus[i * per:(i + 1) * per] for i in range(jobs)]


class LocalExecutor(SerialExecutor):
    """``jobs`` runs at a time on this machine, each on its own device or share of the CPU cores."""

    def __init__(self, jobs: int = 1, devices=None, retries: int = 1):
        super().__init__(retries)
        if jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {jobs}")
        self.jobs, self.devices = jobs, parse_devices(devices)

    def parallelism(self, left: int) -> int:
        return max(1, min(self.jobs, left))

    def slot(self, i: int, device) -> tuple:
        """(device, extra environment) of slot ``i``: its own device, or its own cores when training on CPU."""
        if self.devices:
            device = self.devices[i % len(self.devices)]
        if device not in (None, "") and str(device).lower() != "cpu":
            return device, {}  # a GPU of its own (the data loader keeps every core)
        cores = cpu_shares(self.jobs)[i]
        n = str(len(cores))
        return device, {"YOLO_EXT_CPUS": ",".join(map(str, cores)), "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n}

    def run(self, jobs, data_yaml, device, timeout, stream, on_start, on_done) -> None:
        if self.jobs == 1 and not self.devices:
            return super().run(jobs, data_yaml, device, timeout, stream, on_start, on_done)
        todo, done = queue.Queue(), queue.Queue()
        for j in jobs:
            todo.put(j)
        lock = threading.Lock()  # on_start / on_done print and update the summary: one at a time

        def worker(i):
            dev, env = self.slot(i, device)
            while not STOP.is_set():
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                with lock:
                    on_start(job, f"training on {'cores ' + env['YOLO_EXT_CPUS'] if env else 'device ' + str(dev)}")
                try:
                    result = run_attempts(job, data_yaml, dev, timeout, stream, env, self.retries, self.name)
                except Exception as e:  # noqa: BLE001 - reported as this run's failure, the others go on
                    result = (None, f"runner error: {type(e).__name__}: {e}", 0.0)
                done.put((job, result))

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(self.parallelism(len(jobs)))]
        STOP.clear()
        for t in threads:
            t.start()
        try:
            for _ in jobs:
                while True:
                    try:
                        job, result = done.get(timeout=0.5)  # KeyboardInterrupt lands here
                        break
                    except queue.Empty:
                        continue
                with lock:
                    on_done(job, *result)
        except BaseException:
            kill_live()
            for t in threads:
                t.join(timeout=30)
            raise
        finally:
            STOP.clear()
