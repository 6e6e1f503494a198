"""Run every configuration of a plan for every seed, each in its own process; resumable.

Layout: ``<out>/runs/<run>-s<seed>/`` is both the ultralytics run directory and the job's: ``ablate_config.json``
(the exact trainer overrides), ``train.log`` (the worker's stdout+stderr), ``env.json`` (machine), and, once the run
has finished and its results were read back, ``done.json`` (written atomically, last). A failed run gets
``failed.json`` with the reason instead.

Resuming: a job whose ``done.json`` is valid (parses, same configuration fingerprint, and its result files still
read back) is skipped. Any other existing job directory (interrupted, failed, stale configuration) is deleted and
the run is trained again from scratch. We restart rather than resume from ``last.pt`` on purpose: ultralytics'
resume restores model, optimizer and EMA but not the data loader's shuffling and augmentation random state
mid-sequence, so a resumed run would not be the run an uninterrupted sweep trains with that seed; restarting keeps
every configuration's compute budget and determinism identical, at the cost of redoing at most one run.

Jobs are ordered seed-major (every configuration with seed 0, then seed 1, ...) so a sweep stopped early still holds
complete comparisons.
"""

from __future__ import annotations

import datetime
import json
import os
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
from .plan import Plan, RunSpec


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
    except (ValueError, KeyError, TypeError, OSError):
        return None, "done.json corrupt"
    if fp != job.run.fingerprint(data_yaml):
        return None, "stale: the run's configuration or data changed since it was trained"
    try:
        return collect_run(job.dir, expects_wider(data_yaml, job.run.config)), None
    except RunResultError as e:
        return None, f"result unreadable: {e}"


def trainer_overrides(job: Job, data_yaml: str, device=None) -> dict:
    ov = {**job.run.config, "data": data_yaml, "seed": job.seed, "project": str(job.dir.parent), "name": job.dir.name,
          "exist_ok": True}
    ov.setdefault("deterministic", True)
    if device is not None:
        ov["device"] = device
    return ov


def launch(cmd: list, log_path: Path, env: dict, cwd: Path, timeout=None, stream=False) -> int:
    """Run ``cmd``, output to ``log_path`` (and to stdout when ``stream``); returns the exit status, -9 after
    ``timeout`` seconds. The child dies with the runner: killed on any exception here (KeyboardInterrupt, SIGTERM
    turned into one by ``__main__``), and on Linux also when the runner itself is killed (``PR_SET_PDEATHSIG``);
    its data loader workers exit with it (torch's worker watchdog)."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE if stream else log, stderr=subprocess.STDOUT, env=env,
                                cwd=cwd, preexec_fn=_die_with_parent)
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


def run_job(job: Job, data_yaml: str, device=None, timeout=None, stream=False) -> tuple:
    """Train one job from scratch in a worker process; returns (metrics or None, reason or None, wall seconds)."""
    if job.dir.exists():
        shutil.rmtree(job.dir)
    job.dir.mkdir(parents=True)
    ov = trainer_overrides(job, data_yaml, device)
    cfg = atomic_write(job.dir / "ablate_config.json", json.dumps(ov, indent=2, default=str))
    env = {**os.environ, "YOLO_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    t0 = time.time()
    rc = launch([sys.executable, "-m", "yolo_ext.ablate.worker", str(cfg)], job.dir / "train.log", env,
                job.dir.parent.parent, timeout, stream)
    wall = time.time() - t0
    metrics, reason = None, None
    if rc != 0:
        reason = f"training exited with status {rc}" + (" (timeout)" if rc == -9 and timeout else "")
        reason += f", see {job.dir / 'train.log'}"
    else:
        try:
            metrics = collect_run(job.dir, expects_wider(data_yaml, job.run.config))
        except RunResultError as e:
            reason = str(e)
    record = {"run": job.run.name, "seed": job.seed, "fingerprint": job.run.fingerprint(data_yaml), "wall_s": wall,
              "returncode": rc, "finished": datetime.datetime.now().isoformat(timespec="seconds"),
              "env": _read_json(job.dir / "env.json")}
    if metrics is not None:
        atomic_write(job.dir / "done.json", json.dumps({**record, "metrics": metrics}, indent=2))
    else:
        atomic_write(job.dir / "failed.json", json.dumps({**record, "reason": reason}, indent=2))
    return metrics, reason, wall


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
             seed_start: int = 0) -> dict:
    """Train every (configuration, seed) of ``plan`` not finished yet. ``data_yaml``: the resolved dataset YAML.

    Returns ``{"launched": [labels], "skipped": [labels], "failed": {label: reason}}``; prints one progress line
    per job (index/total, name, seed, time, elapsed, ETA).
    """
    jobs = make_jobs(plan, seeds, out, seed_start)
    status = {j.label: check_done(j, data_yaml) for j in jobs}
    pending = [j for j in jobs if status[j.label][0] is None]
    summary = {"launched": [], "skipped": [j.label for j in jobs if status[j.label][0] is not None], "failed": {}}
    log(f"ablate: plan '{plan.name}', {len(plan.runs)} configurations x {seeds} seeds = {len(jobs)} runs; "
        f"{len(summary['skipped'])} finished earlier, {len(pending)} to train -> {Path(out).resolve()}")
    t_start, walls = time.time(), []
    for i, job in enumerate(jobs, 1):
        head = f"[{i:>{len(str(len(jobs)))}}/{len(jobs)}] {job.run.name} seed {job.seed}"
        if status[job.label][0] is not None:
            log(f"{head}: finished earlier, skipped")
            continue
        prev = status[job.label][1]
        log(f"{head}: training" + ("" if prev == "not run" else f" (was {prev.splitlines()[0]}; restarting)"))
        summary["launched"].append(job.label)
        metrics, reason, wall = run_job(job, data_yaml, device, timeout, stream)
        walls.append(wall)
        left = len(pending) - len(walls)
        eta = fmt_s(sum(walls) / len(walls) * left) if left else "0m00s"
        tail = f"elapsed {fmt_s(time.time() - t_start)}, ETA {eta}"
        if metrics is None:
            summary["failed"][job.label] = reason
            log(f"{head}: FAILED after {fmt_s(wall)}: {reason} | {tail}")
            if (job.dir / "train.log").is_file() and not stream:
                log(_tail(job.dir / "train.log"))
        else:
            log(f"{head}: done in {fmt_s(wall)}: {_brief(metrics)} | {tail}")
    return summary


def _brief(m: dict) -> str:
    keys = [k for k in ("easy", "medium", "hard", "mAP50") if m.get(k) == m.get(k)]  # skip NaN (n/a)
    return ", ".join(f"{k} {m[k]:.3f}" for k in keys)
