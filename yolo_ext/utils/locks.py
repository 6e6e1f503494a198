"""Exclusive locks on output directories (a training run, an ablation sweep): one writer per folder.

A lock is the file ``DIR/.yolo_ext.lock`` holding who took it (PID, host, start time, command line), created
atomically (written to a temporary name, then hard-linked into place: the link fails if the file exists, so there is
never a window in which the lock exists half-written) and removed on release, at the latest when the process exits
normally (``atexit``). A second process gets :class:`DirLockedError` naming the holder's PID, host and start time.

A lock left behind by a process that died (``kill -9``, power loss) is stale: when its host is this host and its PID
is not alive, or its PID is alive but started after the lock was written (the PID was reused), it is taken over. The
take-over itself is race-free: the stale file is renamed to a private name first (only one contender's rename
succeeds) and checked to still be the stale one. A lock held on another host cannot be checked from here: the error
says so, and removing the file by hand is the way out when that host is known to be gone. Within one process the
lock is re-entrant (a second trainer built on the same folder in the same process takes it over): it keeps
processes apart, not threads.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import inspect
import json
import os
import secrets
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".yolo_ext.lock"


class DirLockError(RuntimeError):
    """The directory cannot be locked: :class:`DirLockedError` (in use) or :class:`DirNotWritableError`."""


class DirLockedError(DirLockError):
    """The directory is locked by another live process (the message names its PID, host and start time)."""


class DirNotWritableError(DirLockError):
    """The directory cannot be created or written (the message names it and the reason)."""


def _holder_info() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
            "started_iso": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime()), "argv": sys.argv[:8]}


def _read(path: Path) -> dict | None:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def _process_start(pid: int) -> float | None:
    """Start time (epoch seconds) of a live process from /proc (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22 of stat: starttime in clock ticks after boot
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def is_stale(info: dict | None) -> bool:
    """True when the lock's holder is known to be gone: same host and its PID is dead or belongs to a process
    started after the lock was taken (PID reuse). A lock of another host is never stale from here; an unreadable
    lock file (empty, corrupt) is stale."""
    if info is None:
        return True
    try:
        pid, started = int(info["pid"]), float(info["started"])
    except (KeyError, TypeError, ValueError):
        return True
    if info.get("host") != socket.gethostname():
        return False
    if not _alive(pid):
        return True
    t = _process_start(pid)
    return t is not None and t > started + 5.0  # 5 s: clock-tick rounding of /proc start times


def describe(info: dict | None) -> str:
    if not info:
        return "an unknown process"
    cmd = " ".join(str(a) for a in info.get("argv") or [])
    return (f"PID {info.get('pid')} on host {info.get('host')} since {info.get('started_iso', '?')}"
            + (f" ({cmd})" if cmd else ""))


class DirLock:
    """A held lock on ``directory`` (see the module docstring); :meth:`release` removes it (idempotent)."""

    def __init__(self, directory, what: str = "directory"):
        self.dir = Path(directory).resolve()
        self.path = self.dir / LOCK_NAME
        self.what = what
        self.info = _holder_info()
        self._held = False
        self._acquire()
        atexit.register(self.release)

    def _try_create(self) -> bool:
        tmp = self.dir / f".{LOCK_NAME}.{secrets.token_hex(6)}.tmp"
        tmp.write_text(json.dumps(self.info))
        try:
            os.link(tmp, self.path)  # atomic; fails if a lock exists
            return True
        except FileExistsError:
            return False
        except OSError:  # no hard links on this filesystem: exclusive create (a brief empty-file window)
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(self.info))
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def _acquire(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._acquire_in_dir()
        except OSError as e:
            raise DirNotWritableError(f"{self.what} {self.dir} is not writable: {e.strerror or e}") from None

    def _acquire_in_dir(self) -> None:
        for _ in range(5):
            if self._try_create():
                self._held = True
                return
            info = _read(self.path)
            if info is None and time.time() - _mtime(self.path) < 2.0:
                time.sleep(0.2)  # being written by an exclusive-create fallback: look again
                continue
            mine = bool(info) and info.get("pid") == os.getpid() and info.get("host") == socket.gethostname()
            if not mine and not is_stale(info):
                where = "" if info.get("host") == socket.gethostname() else (
                    "; it was taken on another host, so it cannot be checked from here: if that process is gone, "
                    f"delete {self.path}")
                raise DirLockedError(f"{self.what} {self.dir} is in use by {describe(info)}{where}; wait for it to "
                                     "finish or use another directory")
            self._take_over(info, quiet=mine)
        raise DirLockedError(f"{self.what} {self.dir}: could not take the lock {self.path} (contended)")

    def _take_over(self, stale: dict | None, quiet: bool = False) -> None:
        """Move a stale lock aside (one contender wins the rename) and drop it unless it turned out to be live."""
        aside = self.dir / f".{LOCK_NAME}.stale-{secrets.token_hex(6)}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return  # someone else moved it: try again
        moved = _read(aside)
        if moved != stale and not is_stale(moved):  # a fresh live lock was created in between: put it back
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
        aside.unlink(missing_ok=True)
        if not quiet:
                print(f"{self.what} {self.dir}: took over the stale lock of {describe(stale)} (no longer running)",
                  file=sys.stderr)

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        if _read(self.path) == self.info:  # never remove a lock that is not ours
            self.path.unlink(missing_ok=True)
        atexit.unregister(self.release)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


@contextlib.contextmanager
def lock_dir(directory, what: str = "directory") -> Iterator[DirLock]:
    """``with lock_dir(out, "ablation output directory"):`` hold ``out`` exclusively (creates it)."""
    lock = DirLock(directory, what)
    try:
        yield lock
    finally:
        lock.release()


def holds_dir_lock(arg: str, what: str = "directory"):
    """Decorator: run the function holding the lock on the directory passed as its argument ``arg``."""

    def deco(fn):
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with lock_dir(sig.bind(*args, **kwargs).arguments[arg], what):
                return fn(*args, **kwargs)

        return wrapper

    return deco
