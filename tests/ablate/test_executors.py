"""Executors of the study runner: local (--jobs K, a device or a share of the cores per run) and Ray (one task per
run). Fast tests drive the runner with a fake worker; the slow one trains a 2-configuration x 2-seed plan on tiny
WIDER-format data serially, with --jobs 2 and with Ray (2 CPUs, one Ray worker killed mid-run), and requires the
same numbers from the runs' own files every time."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml

from yolo_ext.ablate import load_plan
from yolo_ext.ablate import rayexec
from yolo_ext.ablate import runner as runner_mod
from yolo_ext.ablate.executors import LocalExecutor, cpu_shares, parse_devices
from yolo_ext.ablate.tinydata import ensure_tiny_dataset
from yolo_ext.cli.ablate import main

ray = pytest.importorskip("ray")


def write_plan(tmp_path, data="unused.yaml", base=None):
    if data == "unused.yaml":  # a local dataset YAML (unknown names are refused: nothing is downloaded); never read
        (tmp_path / data).write_text("path: x\ntrain: a\nval: b\nnames: {0: a}\n")
        data = str(tmp_path / data)
    plan = {"name": "t", "data": data, "base": base or {"model": "yolov5n-1a.yaml", "epochs": 1},
            "runs": [{"name": "a", "overrides": {"assigner": "yolov5"}},
                     {"name": "b", "overrides": {"assigner": "radius", "obj_loss": "vfl"}}]}
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(plan, sort_keys=False))
    return p


def fake_run(run_dir: Path, m50: float):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "args.yaml").write_text(yaml.safe_dump({"epochs": 1, "val": True}))
    (run_dir / "results.csv").write_text(f"epoch,time,metrics/mAP50(B),metrics/mAP50-95(B)\n1,2.0,{m50},0.1\n")


def test_cpu_shares_and_devices():
    assert cpu_shares(2, [0, 1, 2, 3]) == [[0, 1], [2, 3]]
    assert cpu_shares(3, [0, 1, 2, 3, 4, 5, 6]) == [[0, 1], [2, 3], [4, 5]]  # equal, disjoint shares
    assert cpu_shares(3, [0, 1]) == [[0], [1], [0]]  # more runs than cores: round-robin
    assert parse_devices("0, 1,2") == ["0", "1", "2"] and parse_devices(None) == []
    ex = LocalExecutor(jobs=2, devices="0,1")
    assert ex.slot(0, None) == ("0", {}) and ex.slot(1, "cpu") == ("1", {}) and ex.slot(2, None)[0] == "0"
    dev, env = LocalExecutor(jobs=2).slot(1, "cpu")
    cores = cpu_shares(2)[1]
    assert dev == "cpu" and env == {"YOLO_EXT_CPUS": ",".join(map(str, cores)), "OMP_NUM_THREADS": str(len(cores)),
                                    "MKL_NUM_THREADS": str(len(cores))}


@pytest.mark.parametrize("jobs", [1, 2])
def test_killed_run_is_retried_crash_is_not(tmp_path, monkeypatch, jobs):
    """A worker killed by a signal restarts from scratch (--retries 1); a Python error fails the run at once."""
    plan = load_plan(write_plan(tmp_path))
    calls = []

    def fake_launch(cmd, log_path, env, cwd, timeout=None, stream=False):
        ov = json.loads(Path(cmd[-1]).read_text())
        calls.append(ov["name"])
        if jobs == 2:
            assert env["OMP_NUM_THREADS"] == str(len(env["YOLO_EXT_CPUS"].split(",")))
        if ov["name"] == "a-s0" and calls.count("a-s0") == 1:
            (Path(ov["project"]) / ov["name"] / "partial.txt").write_text("from the killed attempt")
            return -9
        if ov["name"] == "b-s0":
            return 1
        fake_run(Path(ov["project"]) / ov["name"], 0.5)
        return 0

    monkeypatch.setattr(runner_mod, "launch", fake_launch)
    lines = []
    s = runner_mod.run_plan(plan, tmp_path / "out", 1, "d.yaml", log=lines.append,
                            executor=LocalExecutor(jobs=jobs, retries=1))
    assert sorted(calls) == ["a-s0", "a-s0", "b-s0"] and list(s["failed"]) == ["b-s0"]
    a = tmp_path / "out" / "runs" / "a-s0"
    assert (a / "done.json").is_file() and not (a / "partial.txt").exists()  # the retry started from scratch
    assert len((tmp_path / "out" / "attempts" / "a-s0.jsonl").read_text().splitlines()) == 2
    assert any("a seed 0: done in" in ln and "(attempt 2)" in ln for ln in lines), lines
    if jobs == 2:
        assert any("2 in parallel" in ln or "ETA 0m00s" in ln for ln in lines)


def test_unwritable_out_dir_and_bad_flags_fail_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner_mod, "launch", lambda *a, **k: pytest.fail("nothing may train"))
    plan = write_plan(tmp_path)
    (tmp_path / "file").write_text("a file, not a directory")
    for extra in ([], ["--executor", "ray"]):
        assert main(["--plan", str(plan), "--out", str(tmp_path / "file" / "out"), *extra]) == 2
        err = capsys.readouterr().err
        assert "output directory" in err and "not writable" in err and str(tmp_path / "file") in err, err
    for flags, words in ((["--gpus-per-run", "1"], "--executor ray"), (["--executor", "ray", "--jobs", "2"], "--jobs"),
                         (["--retries", "-1"], "--retries"), (["--executor", "ray", "--gpus-per-run", "1.5"], "whole")):
        assert main(["--plan", str(plan), "--out", str(tmp_path / "o"), *flags]) == 2
        assert words in capsys.readouterr().err, flags
    monkeypatch.setattr(rayexec, "ray", None)
    assert main(["--plan", str(plan), "--out", str(tmp_path / "o"), "--executor", "ray"]) == 2
    assert ".[ray]" in capsys.readouterr().err  # names the extra to install


def test_shared_dir_probe_names_the_node_and_reason(tmp_path):
    (tmp_path / "tok").write_text("abc")
    data = tmp_path / "d.yaml"
    data.write_text("x: 1\n")
    assert rayexec._probe(str(tmp_path), "tok", "abc", str(data)) is None
    assert "not on storage shared" in rayexec._probe(str(tmp_path), "missing", "abc", str(data))
    assert "different directory" in rayexec._probe(str(tmp_path), "tok", "xyz", str(data))
    assert "dataset YAML" in rayexec._probe(str(tmp_path), "tok", "abc", str(tmp_path / "nope.yaml"))


class _FakeTrainer:
    """Stands in for AnchorTrainer: its constructor resets torch's threads the way ultralytics' select_device does
    (min(8, cpu_count - 1) over the whole machine, here 7), and train() notes the threads it would train on."""

    seen = []

    def __init__(self, overrides):
        import torch

        torch.set_num_threads(7)
        self.device = torch.device("cpu")

    def train(self):
        import torch

        self.seen.append(torch.get_num_threads())


@pytest.mark.parametrize("cpus, want", [("3", 1), ("0,1,2", 3), (None, 7)])
def test_worker_trains_a_pinned_cpu_run_on_one_thread_per_core_of_its_share(tmp_path, monkeypatch, cpus, want):
    import torch

    from yolo_ext.ablate import worker

    before = torch.get_num_threads()
    pinned = []
    monkeypatch.setattr(worker, "AnchorTrainer", _FakeTrainer)
    monkeypatch.setattr(worker.os, "sched_setaffinity", lambda pid, cores: pinned.append(cores))
    if cpus is None:
        monkeypatch.delenv("YOLO_EXT_CPUS", raising=False)
    else:
        monkeypatch.setenv("YOLO_EXT_CPUS", cpus)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"project": str(tmp_path / "p"), "name": "r", "device": "cpu"}))
    _FakeTrainer.seen = []
    try:
        assert worker.main([str(cfg)]) == 0
        assert _FakeTrainer.seen == [want]  # not ultralytics' 7 threads on a share of fewer cores
        env = json.loads((tmp_path / "p" / "r" / "env.json").read_text())
        assert env["torch_threads"] == want
        assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability()  # the kernels' instruction set
        assert pinned == ([] if cpus is None else [{int(c) for c in cpus.split(",")}])
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------- end to end


def numbers(out: Path) -> dict:
    """Every run's numbers except wall-clock times, from its own files: results.csv (losses, mAPs per epoch) without
    its time column, wider_ap.json, and the metrics done.json recorded."""
    got = {}
    for d in sorted((out / "runs").iterdir()):
        m = json.loads((d / "done.json").read_text())["metrics"]
        rows = [ln.split(",") for ln in (d / "results.csv").read_text().splitlines()]
        t = [h.strip() for h in rows[0]].index("time")
        got[d.name] = ([r[:t] + r[t + 1:] for r in rows], (d / "wider_ap.json").read_text(),
                       {k: v for k, v in m.items() if k != "train_time_s"})
    return got


def kill_ray_worker_of(run_dir: Path, killed: list, stop: threading.Event):
    """Once the training process of ``run_dir`` runs, SIGKILL its parent: the Ray worker executing the task."""
    cfg = str(run_dir / "ablate_config.json")
    while not stop.is_set() and not killed:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if cfg.encode() in cmd and (run_dir / "env.json").is_file():
                    status = Path(f"/proc/{pid}/status").read_text()
                    ppid = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("PPid:")))
                    os.kill(ppid, signal.SIGKILL)
                    killed.append((int(pid), ppid))
                    return
            except (OSError, ValueError, StopIteration):
                continue
        time.sleep(0.2)


@pytest.mark.slow
def test_ray_and_parallel_local_equal_serial_numbers_resume_and_survive_a_killed_worker(tmp_path, monkeypatch):
    data = ensure_tiny_dataset("wider", cache=tmp_path / "datasets")
    base = {"model": "yolov5n-1a.yaml", "epochs": 1, "imgsz": 64, "batch": 8, "device": "cpu", "workers": 0,
            "plots": False}
    plan = write_plan(tmp_path, data=str(data), base=base)
    common = ["--plan", str(plan), "--seeds", "2"]
    assert main([*common, "--out", str(tmp_path / "serial")]) == 0
    ref = numbers(tmp_path / "serial")
    assert len(ref) == 4 and len({str(v[0]) for v in ref.values()}) == 4  # four runs, all different

    assert main([*common, "--out", str(tmp_path / "jobs2"), "--jobs", "2"]) == 0
    assert numbers(tmp_path / "jobs2") == ref

    out = tmp_path / "ray"
    killed, stop = [], threading.Event()
    killer = threading.Thread(target=kill_ray_worker_of, args=(out / "runs" / "b-s1", killed, stop), daemon=True)
    killer.start()
    ray_flags = ["--executor", "ray", "--ray-num-cpus", "2", "--no-dashboard"]
    try:
        assert main([*common, "--out", str(out), *ray_flags]) == 0
    finally:
        stop.set()
    assert killed, "the Ray worker of b-s1 was never seen"
    assert numbers(out) == ref  # the killed run was retried from scratch and the sweep completed
    attempts = [json.loads(ln) for ln in (out / "attempts" / "b-s1.jsonl").read_text().splitlines()]
    assert len(attempts) == 2 and {a["executor"] for a in attempts} == {"ray"} and attempts[0]["pid"] == killed[0][1]
    assert not ray.is_initialized()  # the private instance was shut down

    stamps = {d.name: (d / "done.json").stat().st_mtime_ns for d in (out / "runs").iterdir()}
    launched = []
    monkeypatch.setattr(runner_mod, "launch", lambda cmd, *a, **k: launched.append(cmd) or 1)
    assert main([*common, "--out", str(out), *ray_flags]) == 0  # rerun: everything finished, nothing trains
    assert not launched and stamps == {d.name: (d / "done.json").stat().st_mtime_ns for d in (out / "runs").iterdir()}


def test_ctrl_c_kills_running_workers_and_keeps_finished_runs(tmp_path, monkeypatch):
    """--jobs 2: 'a' finishes, 'b' hangs in a real child process; Ctrl-C kills it at once, records nothing for it,
    and the rerun trains only 'b'."""
    plan = load_plan(write_plan(tmp_path))
    real_launch, started = runner_mod.launch, []

    def fake_launch(cmd, log_path, env, cwd, timeout=None, stream=False):
        ov = json.loads(Path(cmd[-1]).read_text())
        if ov["name"] == "a-s0":
            fake_run(Path(ov["project"]) / ov["name"], 0.5)
            return 0
        started.append(time.time())
        return real_launch(["sleep", "60"], log_path, env, cwd)  # a worker that would run for a minute

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner_mod, "launch", fake_launch)
    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 3.0)
    t0 = time.time()
    try:
        with pytest.raises(KeyboardInterrupt):
            runner_mod.run_plan(plan, tmp_path / "out", 1, "d.yaml", log=lambda *_: None,
                                executor=LocalExecutor(jobs=2))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert started and time.time() - t0 < 20 and not runner_mod._LIVE  # the sleeping worker was killed
    runs = tmp_path / "out" / "runs"
    assert (runs / "a-s0" / "done.json").is_file()
    assert not (runs / "b-s0" / "failed.json").exists() and not (runs / "b-s0" / "done.json").exists()
    monkeypatch.setattr(runner_mod, "launch", lambda cmd, *a, **k: fake_run(Path(cmd[-1]).parent, 0.4) or 0)
    s = runner_mod.run_plan(plan, tmp_path / "out", 1, "d.yaml", log=lambda *_: None, executor=LocalExecutor(jobs=2))
    assert s["skipped"] == ["a-s0"] and s["launched"] == ["b-s0"] and not s["failed"]


@pytest.mark.slow
def test_ray_ctrl_c_cancels_outstanding_tasks_and_keeps_finished_runs(tmp_path, monkeypatch):
    """'a' finishes, 'b' would run for minutes; Ctrl-C (here: raised when 'a' is reported) cancels 'b', whose Ray
    worker dies; 'a' keeps its done.json. The fake task replaces the training (the Ray part is real)."""
    plan = load_plan(write_plan(tmp_path))
    pidfile = tmp_path / "b.pid"

    def task(job, data_yaml, device, timeout, gpus, retries):  # nested: Ray ships it by value
        import json as j
        import os as o
        import time as t

        if job.run.name == "b":
            (job.dir.parent.parent.parent / "b.pid").write_text(str(o.getpid()))
            t.sleep(300)
        job.dir.mkdir(parents=True, exist_ok=True)
        (job.dir / "done.json").write_text(j.dumps({"fingerprint": job.run.fingerprint(data_yaml)}))
        return {"mAP50": 0.5}, None, 1.0

    monkeypatch.setattr(rayexec, "_train_task", task)
    ex = rayexec.RayExecutor(num_cpus=2, dashboard=False)
    out = tmp_path / "out"
    jobs = runner_mod.make_jobs(plan, 1, out)
    ex.prepare(out, str(tmp_path / "p.yaml"), log=lambda *_: None)  # the plan file stands in for the data YAML

    def on_done(job, *result):
        while not pidfile.is_file():
            time.sleep(0.1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ex.run(jobs, str(tmp_path / "p.yaml"), None, None, False, lambda *a: None, on_done)
    assert not ray.is_initialized()
    pid = int(pidfile.read_text())
    for _ in range(50):
        if not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text():
            break
        time.sleep(0.1)
    else:
        pytest.fail("the cancelled task's Ray worker is still alive")
    assert (out / "runs" / "a-s0" / "done.json").is_file() and not (out / "runs" / "b-s0" / "done.json").exists()
