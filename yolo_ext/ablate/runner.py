"""Run every configuration of a plan for every seed, each in its own process; resumable.

Layout: ``<out>/runs/<run>-s<seed>/`` is both the ultralytics run directory and the job's: ``ablate_config.json``
(the exact trainer overrides), ``train.log`` (the worker's stdout+stderr), ``env.json`` (machine), and, once the run
has finished and its results were read back, ``done.json`` (written atomically, last). A failed run gets
``failed.json`` with the reason instead.

Resuming: a job whose ``done.json`` is valid (parses, same configuration fingerprint (location-independent: a sweep
may be resumed from another clone, see ``plan.RunSpec.fingerprint`` and ``legacy_match``), and its result files still
read back) is skipped. Any other existing job directory (interrupted, failed, stale configuration) is deleted and
the run is trained again from scratch. We restart rather than resume from ``last.pt`` on purpose: ultralytics'
resume restores model, optimizer and EMA but not the data loader's shuffling and augmentation random state
mid-sequence, so a resumed run would not be the run an uninterrupted sweep trains with that seed; restarting keeps
every configuration's compute budget and determinism identical, at the cost of redoing at most one run.

Jobs are ordered seed-major (every configuration with seed 0, then seed 1, ...) so a sweep stopped early still holds
complete comparisons.

Executors (``executors.py``: ``LocalExecutor``, K runs at a time in threads; ``rayexec.py``: ``RayExecutor``, one Ray
task per run) only decide where and when ``run_attempts`` is called: every run is the same isolated worker process
either way, so its numbers do not depend on the executor. A run whose process was killed by a signal (out-of-memory
killer, a dying node) is retried from scratch ``retries`` times; each start is appended to
``<out>/attempts/<run>-s<seed>.jsonl``.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..utils.repo import ROOT
from ..utils.files import atomic_write
from ..utils.locks import holds_dir_lock
from ..config.data import wider_section
from .collect import RunResultError, collect_run
from .plan import FINGERPRINT_VERSION, Plan, RunSpec, same_place
from .records import Recorder


@dataclass(frozen=True)
class Job:
    run: RunSpec
    seed: int
    dir: Path

    @property
    def label(self) -> str:
        return f"{self.run.name}-s{self.seed}"


def make_jobs(plan: Plan, seeds: int, out, seed_start: int = 0) -> list:
    """Seeds seed_start..seed_start+seeds-1, seed-major."""
    runs = Path(out).resolve() / "runs"
    return [Job(r, s, runs / f"{r.name}-s{s}") for s in range(seed_start, seed_start + seeds) for r in plan.runs]


def expects_wider(data_yaml: str, config: dict) -> bool:
    """The trainer writes wider_ap.json when the data has a ``widerface:`` section (unless ``wider_eval: false``)."""
    return wider_section(data_yaml, check=False) is not None and bool(config.get("wider_eval", True))


def check_done(job: Job, data_yaml: str) -> tuple:
    """``(metrics, None)`` when the job finished and its results read back, else ``(None, reason)``."""
    marker = job.dir / "done.json"
    if not job.dir.exists():
        return None, "not run"
    if not marker.is_file():
        failed = job.dir / "failed.json"
        if failed.is_file():
            try:
                return None, "failed: " + json.loads(failed.read_text())["reason"]
            except (ValueError, KeyError, OSError):
                return None, "failed (failed.json unreadable)"
        return None, "incomplete: no done.json (interrupted or crashed)"
    try:
        done = json.loads(marker.read_text())
        fp = done["fingerprint"]
        version = int(done.get("fingerprint_version", 1))
    except (ValueError, KeyError, TypeError, OSError, AttributeError):
        return None, "done.json corrupt"
    # a version-1 hash cannot equal a version-2 one (the hashed blobs differ in structure)
    if fp != job.run.fingerprint(data_yaml) and not (version < 2 and legacy_match(job, data_yaml, fp)):
        return None, "stale: the run's configuration or data changed since it was trained"
    try:
        return collect_run(job.dir, expects_wider(data_yaml, job.run.config)), None
    except RunResultError as e:
        return None, f"result unreadable: {e}"


def legacy_match(job: Job, data_yaml: str, fp: str) -> bool:
    """A ``done.json`` of fingerprint version 1 (absolute model and data paths hashed): still valid when the
    configuration, with the model and data paths the run recorded in its ``ablate_config.json``, hashes to ``fp``
    (every other setting unchanged) and those paths name the same files as now (``plan.same_place``; the model
    YAML's bytes compared when the old checkout still exists). Lets a sweep move between clones."""
    try:
        rec = json.loads((job.dir / "ablate_config.json").read_text())
        rec_data, rec_model = rec["data"], rec.get("model")
    except (ValueError, KeyError, TypeError, OSError):
        return False
    if not isinstance(rec_data, str) or job.run.legacy_fingerprint(rec_data, rec_model) != fp:
        return False
    model = job.run.config.get("model")
    return same_place(rec_data, data_yaml) and (rec_model is None or (model is not None and
                                                                      same_place(rec_model, model, content=True)))


def trainer_overrides(job: Job, data_yaml: str, device=None) -> dict:
    ov = {**job.run.config, "data": data_yaml, "seed": job.seed, "project": str(job.dir.parent), "name": job.dir.name,
          "exist_ok": True}
    ov.setdefault("deterministic", True)
    if device is not None:
        ov["device"] = device
    return ov


# worker processes alive in this process (any thread), so that an interrupted parallel sweep can kill them all
_LIVE: set = set()
_LIVE_LOCK = threading.Lock()
STOP = threading.Event()  # set when the sweep is interrupted: no retry, no new run, no marker for the killed ones


def kill_live() -> None:
    """Kill every worker process started by ``launch`` that is still running (Ctrl-C of a parallel sweep)."""
    STOP.set()
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for p in procs:
        _kill(p)


def launch(cmd: list, log_path: Path, env: dict, cwd: Path, timeout=None, stream=False) -> int:
    """Run ``cmd``, output to ``log_path`` (and to stdout when ``stream``); returns the exit status, -9 after
    ``timeout`` seconds. The child dies with the runner: killed on any exception here (KeyboardInterrupt, SIGTERM
    turned into one by ``__main__``), and on Linux also when the runner itself is killed (``PR_SET_PDEATHSIG``);
    its data loader workers exit with it (torch's worker watchdog)."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE if stream else log, stderr=subprocess.STDOUT, env=env,
                                cwd=cwd, preexec_fn=_die_with_parent)
        with _LIVE_LOCK:
            _LIVE.add(proc)
        timer = threading.Timer(timeout, _kill, (proc,)) if timeout else None
        try:
            if timer:
                timer.start()
            if stream:
                for line in proc.stdout:
                    log.write(line)
                    sys.stdout.buffer.write(line)
                    sys.stdout.flush()
            return proc.wait()
        except BaseException:
            _kill(proc)
            proc.wait()
            raise
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(proc)
            if timer:
                timer.cancel()


def _kill(proc) -> None:
    try:
        proc.kill()
    except ProcessLookupError:
        pass


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGKILL it when the runner dies (no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, 9)


def run_job(job: Job, data_yaml: str, device=None, timeout=None, stream=False, env_extra=None) -> tuple:
    """Train one job from scratch in a worker process; returns (metrics or None, reason or None, wall seconds).

    ``env_extra``: variables added to the worker's environment (an executor's CPU share: ``OMP_NUM_THREADS``,
    ``YOLO_EXT_CPUS``). ``reason`` starts with ``"killed"`` when the process died by a signal (retryable); nothing
    is recorded for a run stopped by ``kill_live`` (it is simply incomplete, and restarts on the next sweep)."""
    if job.dir.exists():
        shutil.rmtree(job.dir)
    job.dir.mkdir(parents=True)
    ov = trainer_overrides(job, data_yaml, device)
    cfg = atomic_write(job.dir / "ablate_config.json", json.dumps(ov, indent=2, default=str))
    env = {**os.environ, "YOLO_OFFLINE": "1", **(env_extra or {}),
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    t0 = time.time()
    rc = launch([sys.executable, "-m", "yolo_ext.ablate.worker", str(cfg)], job.dir / "train.log", env,
                job.dir.parent.parent, timeout, stream)
    wall = time.time() - t0
    metrics, reason = None, None
    if rc != 0:
        timed_out = bool(timeout) and rc == -9 and wall >= timeout
        reason = ("killed by signal %d" % -rc if rc < 0 and not timed_out else f"training exited with status {rc}")
        reason += " (timeout)" if timed_out else ""
        reason += f", see {job.dir / 'train.log'}"
    else:
        try:
            metrics = collect_run(job.dir, expects_wider(data_yaml, job.run.config))
        except RunResultError as e:
            reason = str(e)
    if STOP.is_set() and metrics is None:
        return None, "interrupted", wall
    record = {"run": job.run.name, "seed": job.seed, "fingerprint": job.run.fingerprint(data_yaml),
              "fingerprint_version": FINGERPRINT_VERSION, "wall_s": wall,
              "returncode": rc, "finished": datetime.datetime.now().isoformat(timespec="seconds"),
              "env": _read_json(job.dir / "env.json")}
    if metrics is not None:
        atomic_write(job.dir / "done.json", json.dumps({**record, "metrics": metrics}, indent=2))
    else:
        atomic_write(job.dir / "failed.json", json.dumps({**record, "reason": reason}, indent=2))
    return metrics, reason, wall


def attempts_log(job: Job) -> Path:
    """``<out>/attempts/<run>-s<seed>.jsonl``: one line per start of the run (outside the run directory, which every
    start wipes), so retries stay visible."""
    return job.dir.parent.parent / "attempts" / f"{job.label}.jsonl"


def record_attempt(job: Job, executor: str) -> int:
    """Append this start to the job's attempts log; returns the number of starts so far (this one included)."""
    path = attempts_log(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"start": datetime.datetime.now().isoformat(timespec="seconds"), "host": platform.node(),
                       "pid": os.getpid(), "executor": executor})
    with open(path, "a") as f:  # appends of one short line: no reader ever sees half of it
        f.write(line + "\n")
    return len(path.read_text().splitlines())


def run_attempts(job: Job, data_yaml: str, device=None, timeout=None, stream=False, env_extra=None, retries=0,
                 executor="local") -> tuple:
    """``run_job``, retried from scratch up to ``retries`` times while the worker process is killed by a signal
    (a crash with a Python error is not retried: it would fail the same way). Returns ``run_job``'s triple."""
    for attempt in range(retries + 1):
        record_attempt(job, executor)
        metrics, reason, wall = run_job(job, data_yaml, device, timeout, stream, env_extra)
        if metrics is not None or not reason.startswith("killed") or STOP.is_set():
            break
    return metrics, reason, wall


class OutputDirError(OSError):
    """The sweep's output directory cannot be created or written (here, or on a Ray node)."""


def check_writable(out) -> None:
    """Create ``out`` if needed and write + remove a probe file there; raises OutputDirError naming the directory."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = atomic_write(out / f".write-probe-{os.getpid()}", b"ok")
        probe.unlink()
    except OSError as e:
        raise OutputDirError(f"output directory {out} is not writable: {e.strerror or e}") from None


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def fmt_s(s: float) -> str:
    s = int(round(s))
    h, m = divmod(s // 60, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s % 60:02d}s"


@holds_dir_lock("out", "ablation output directory")  # a second runner on the same --out stops (names this PID)
def run_plan(plan: Plan, out, seeds: int, data_yaml: str, device=None, timeout=None, stream=False, log=print,
             seed_start: int = 0, executor=None, records=None) -> dict:
    """Train every (configuration, seed) of ``plan`` not finished yet. ``data_yaml``: the resolved dataset YAML.
    ``executor``: where the runs train (default ``SerialExecutor()``: one at a time in this process, as
    ``executors.LocalExecutor(jobs=1)``).

    ``records``: a records file (``records.py``). A job with no valid run directory whose record there matches the
    row's fingerprint is finished (skipped, its run directory, if any, left alone); every finished run directory
    not recorded yet is recorded before training starts, and every run that finishes right after it finishes.

    Returns ``{"launched": [labels], "skipped": [labels], "failed": {label: reason}}``; prints one progress line
    per job (index/total, name, seed, time, elapsed, ETA, and the parallelism when above 1).
    """
    executor = executor or SerialExecutor()
    jobs = make_jobs(plan, seeds, out, seed_start)
    status = {j.label: check_done(j, data_yaml) for j in jobs}
    recorder = Recorder(records, plan, data_yaml, log) if records is not None else None
    from_record = set()
    if recorder:
        for j in jobs:
            if status[j.label][0] is None and recorder.has(j):
                status[j.label] = ({}, None)
                from_record.add(j.label)
    pending = [j for j in jobs if status[j.label][0] is None]
    summary = {"launched": [], "skipped": [j.label for j in jobs if status[j.label][0] is not None], "failed": {}}
    log(f"ablate: plan '{plan.name}', {len(plan.runs)} configurations x {seeds} seeds = {len(jobs)} runs; "
        f"{len(summary['skipped'])} finished earlier" + (f" ({len(from_record)} known only from {records})"
                                                        if from_record else "")
        + f", {len(pending)} to train -> {Path(out).resolve()}")
    if pending:
        executor.prepare(Path(out).resolve(), data_yaml, log)  # output dir writable / visible everywhere, up front
    index = {j.label: i for i, j in enumerate(jobs, 1)}
    t_start, walls = time.time(), []

    def head(job):
        return f"[{index[job.label]:>{len(str(len(jobs)))}}/{len(jobs)}] {job.run.name} seed {job.seed}"

    for job in jobs:
        if job.label in from_record:
            log(f"{head(job)}: finished earlier (recorded in {records}; no run directory), skipped")
        elif status[job.label][0] is not None:
            log(f"{head(job)}: finished earlier, skipped")
    if recorder:
        recorder.record([(j, status[j.label][0]) for j in jobs
                         if status[j.label][0] is not None and j.label not in from_record])

    def on_start(job, what="training"):
        prev = status[job.label][1]
        summary["launched"].append(job.label)
        log(f"{head(job)}: {what}"
            + ("" if prev == "not run" else f" (was {prev.splitlines()[0]}; restarting)"))

    def on_done(job, metrics, reason, wall):
        walls.append(wall)
        left = len(pending) - len(walls)
        par = executor.parallelism(left)
        eta = fmt_s(sum(walls) / len(walls) * -(-left // max(par, 1))) if left else "0m00s"
        tail = f"elapsed {fmt_s(time.time() - t_start)}, ETA {eta}" + (f", {par} in parallel" if par > 1 else "")
        n = _attempts(job)
        tries = f" (attempt {n})" if n > 1 else ""
        if metrics is None:
            summary["failed"][job.label] = reason
            log(f"{head(job)}: FAILED after {fmt_s(wall)}{tries}: {reason} | {tail}")
            if (job.dir / "train.log").is_file() and not stream:
                log(_tail(job.dir / "train.log"))
        else:
            if recorder:  # before the line a user waits for: a sweep stopped right after it has its record
                recorder.record([(job, metrics)])
            log(f"{head(job)}: done in {fmt_s(wall)}{tries}: {_brief(metrics)} | {tail}")

    executor.run(pending, data_yaml, device, timeout, stream, on_start, on_done)
    return summary


class SerialExecutor:
    """One run at a time, in order, from this thread: the default executor (``--executor local --jobs 1``)."""

    name = "local"

    def __init__(self, retries: int = 1):
        self.retries = retries

    def parallelism(self, left: int) -> int:
        return 1

    def prepare(self, out: Path, data_yaml: str, log=print) -> None:
        check_writable(out)

    def run(self, jobs, data_yaml, device, timeout, stream, on_start, on_done) -> None:
        for job in jobs:
            on_start(job)
            on_done(job, *run_attempts(job, data_yaml, device, timeout, stream, None, self.retries, self.name))


def _attempts(job: Job) -> int:
    try:
        return len(attempts_log(job).read_text().splitlines())
    except OSError:
        return 0


def _brief(m: dict) -> str:
    keys = [k for k in ("easy", "medium", "hard", "mAP50") if m.get(k) == m.get(k)]  # skip NaN (n/a)
    return ", ".join(f"{k} {m[k]:.3f}" for k in keys)
