"""Directory locks: one holder at a time, a clear error naming the holder, stale locks of dead processes taken over,
released on exit (normal or not)."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from yolo_ext.utils.locks import LOCK_NAME, DirLock, DirLockedError, DirNotWritableError, holds_dir_lock, lock_dir

from helpers import hold_in_child

def dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_lock_file_records_holder_and_is_removed_on_release(tmp_path):
    with lock_dir(tmp_path / "run", "run directory") as lock:
        info = json.loads((tmp_path / "run" / LOCK_NAME).read_text())
        assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
        assert abs(info["started"] - time.time()) < 60 and lock.path == tmp_path / "run" / LOCK_NAME
        assert [p.name for p in (tmp_path / "run").iterdir()] == [LOCK_NAME]  # no temporaries left
    assert not (tmp_path / "run" / LOCK_NAME).exists()


def test_second_process_is_refused_with_the_holders_pid(tmp_path):
    child = hold_in_child(tmp_path)
    try:
        with pytest.raises(DirLockedError, match=rf"run directory .* is in use by PID {child.pid} on host "):
            DirLock(tmp_path, "run directory")
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == child.pid  # the holder's lock is untouched
    finally:
        child.kill()
        child.wait()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
    pid = dead_pid()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started": time.time()}))
    with lock_dir(tmp_path) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert f"took over the stale lock of PID {pid}" in capsys.readouterr().err


def test_killed_holder_leaves_a_lock_that_is_taken_over(tmp_path):
    child = hold_in_child(tmp_path)
    child.kill()  # SIGKILL: no cleanup runs
    child.wait()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == child.pid
    DirLock(tmp_path).release()


def test_reused_pid_is_stale(tmp_path):
    """The PID is alive but its process started after the lock was taken: the holder is gone."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": child.pid, "host": socket.gethostname(),
                                                      "started": time.time() - 3600}))
        if not os.path.exists(f"/proc/{child.pid}/stat"):
            pytest.skip("no /proc: process start times are unknown here")
        DirLock(tmp_path).release()
    finally:
        child.kill()
        child.wait()


def test_lock_of_another_host_is_not_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": time.time(),
                                                  "started_iso": "2026-01-01 00:00:00"}))
    with pytest.raises(DirLockedError, match=r"PID 1 on host elsewhere since 2026-01-01 .*another host.*delete"):
        DirLock(tmp_path)


def test_corrupt_lock_file_is_stale(tmp_path):
    (tmp_path / LOCK_NAME).write_text("{not json")
    os.utime(tmp_path / LOCK_NAME, (time.time() - 60, time.time() - 60))
    DirLock(tmp_path).release()


def test_released_when_the_process_exits_without_releasing(tmp_path):
    code = f"from yolo_ext.utils.locks import DirLock; DirLock({str(tmp_path)!r})"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert not (tmp_path / LOCK_NAME).exists()


def test_never_removes_a_lock_it_does_not_hold(tmp_path):
    lock = DirLock(tmp_path)
    other = {"pid": 1, "host": "elsewhere", "started": time.time()}
    lock.path.write_text(json.dumps(other))  # e.g. someone removed ours by hand and another process took it
    lock.release()
    assert json.loads(lock.path.read_text()) == other


def test_decorator_holds_the_lock_for_the_call(tmp_path):
    seen = []

    @holds_dir_lock("out", "ablation output directory")
    def sweep(plan, out, seeds=1):
        seen.append(json.loads((out / LOCK_NAME).read_text())["pid"])
        return seeds

    assert sweep("p", tmp_path, seeds=3) == 3 and seen == [os.getpid()]
    assert not (tmp_path / LOCK_NAME).exists()


def test_unwritable_directory_is_named(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(DirNotWritableError, match=r"ablation output directory .*file/out is not writable"):
        DirLock(tmp_path / "file" / "out", "ablation output directory")
