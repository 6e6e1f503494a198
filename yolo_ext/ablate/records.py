"""Run records: what each finished run of a sweep measured, in one small JSON-lines file that can be committed.

A run directory holds weights, logs and predictions (megabytes per run, ignored by git). When it is gone (a new
machine, a cleaned disk), a sweep's results would go with it and hours of training would have to be repeated. A
records file keeps, per finished (configuration, seed), everything the study's reports read from the directory:

- ``run``, ``seed``, ``fingerprint`` (``plan.RunSpec.fingerprint``: the configuration and data the run trained on)
  and ``fingerprint_version``;
- ``metrics``: what ``collect.collect_run`` read back (WIDER easy/medium/hard AP, mAP50, mAP50-95, train time,
  epochs, best epoch); ``wall_s`` and ``finished`` from the run's ``done.json``; ``env`` (the machine);
- ``evidence``: the loss balance at the end of training and the final weights' positives per face
  (:func:`balance_evidence`); ``sizes``: hard AP and recall by face height at the edges :data:`SIZE_EDGES`
  (``widerface.sizes``), or null where the run kept no predictions;
- ``origin``: ``"run directory"``, or a sentence saying where a record recovered from elsewhere came from (its
  unknown values are null: a record never makes a number up).

Who writes it: the sweep (``python -m yolo_ext.ablate --records FILE``, after every finished run) and
``python -m yolo_ext.cli.claims`` (for each tier whose claims-file entry names ``records:``). The file is always
rewritten whole and atomically, one line per run sorted by (run, seed), so a diff shows exactly the runs added, and
under an exclusive lock (``FILE.lock``, git-ignored) so that two writers on one host never lose each other's lines.

Who reads it: both. A record counts for a plan's row and seed only when its fingerprint equals the row's current one
(:func:`matching`); a stale record (the row's settings changed since) stays in the file, is listed, and is never
used. The sweep then skips that run; the reports use the record's values. A run directory that is present and valid
always wins over a record, and is recorded again from the directory.
"""
from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import math
import re
from pathlib import Path

from ..utils.files import atomic_write

RECORD_KEYS = {"run", "seed", "fingerprint", "fingerprint_version", "metrics", "wall_s", "finished", "env",
               "evidence", "sizes", "origin"}
REQUIRED = ("run", "seed", "fingerprint", "metrics")
METRIC_KEYS = ("easy", "medium", "hard", "mAP50", "mAP50-95", "train_time_s", "epochs", "best_epoch")
EVIDENCE_KEYS = ("box_obj_ratio", "obj_gain_scale", "positives", "positives_per_face", "no_positive")
SIZE_EDGES = (8.0, 16.0, 32.0)  # the synthetic val set's hard faces: 50 < 8 px, 204 8-16, 111 16-32, 118 >= 32
FROM_RUN = "run directory"


class RecordsError(ValueError):
    """A records file that does not read back; the message names the file and line."""


def _num(x):
    """A JSON number or null as float (NaN for null)."""
    return math.nan if x is None else float(x)


def _json_num(x):
    """A float for JSON: null for NaN/inf (JSON has no NaN; a record never writes a number that is not one)."""
    return None if x is None or not math.isfinite(float(x)) else float(x)


def read_records(path) -> dict:
    """``{(run, seed): record}`` of a records file; {} when it does not exist. Raises RecordsError naming the file
    and line for anything that is not a record (bad JSON, missing key, wrong type, a (run, seed) twice)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise RecordsError(f"{path}: is not a file (a records file is one JSON line per run)")
    if not path.is_file():
        return {}
    out = {}
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise RecordsError(f"{path}: cannot read records: {e}") from None
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{i}"
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            raise RecordsError(f"{where}: not JSON: {e}") from None
        if not isinstance(r, dict):
            raise RecordsError(f"{where}: expected a JSON object")
        missing = [k for k in REQUIRED if k not in r]
        if missing:
            raise RecordsError(f"{where}: missing {missing}")
        unknown = sorted(set(r) - RECORD_KEYS)
        if unknown:
            raise RecordsError(f"{where}: unknown key(s) {unknown}")
        if not isinstance(r["run"], str) or not isinstance(r["seed"], int) or isinstance(r["seed"], bool):
            raise RecordsError(f"{where}: 'run' must be a string and 'seed' an integer")
        if not isinstance(r["fingerprint"], str) or not re.fullmatch(r"[0-9a-f]{16}", r["fingerprint"]):
            raise RecordsError(f"{where}: 'fingerprint' must be 16 hex digits, got {r['fingerprint']!r}")
        m = r["metrics"]
        if not isinstance(m, dict) or not all(k in m for k in ("easy", "medium", "hard")):
            raise RecordsError(f"{where}: 'metrics' must hold at least easy, medium and hard (null where n/a)")
        for k, v in m.items():
            if v is not None and not _is_num(v):
                raise RecordsError(f"{where}: metrics.{k} = {v!r} is not a number or null")
        for k in ("easy", "medium", "hard"):  # null: the data is not WIDER-format (no easy/medium/hard)
            if m[k] is not None and not 0.0 <= m[k] <= 1.0:
                raise RecordsError(f"{where}: metrics.{k} = {m[k]!r} is not an AP in [0, 1]")
        _check_parts(r, where)
        key = (r["run"], r["seed"])
        if key in out:
            raise RecordsError(f"{where}: {r['run']} seed {r['seed']} is recorded twice")
        out[key] = r
    return out


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_parts(r: dict, where: str) -> None:
    """The optional parts of a record have the shapes the reports read (RecordsError otherwise)."""
    if r.get("wall_s") is not None and not _is_num(r["wall_s"]):
        raise RecordsError(f"{where}: wall_s = {r['wall_s']!r} is not a number or null")
    ev = r.get("evidence")
    if ev is not None and (not isinstance(ev, dict) or not all(v is None or _is_num(v) for v in ev.values())):
        raise RecordsError(f"{where}: 'evidence' must be null or an object of numbers (null where unknown)")
    sz = r.get("sizes")
    if sz is None:
        return
    ok = (isinstance(sz, dict) and isinstance(sz.get("edges"), list) and all(_is_num(e) for e in sz["edges"])
          and isinstance(sz.get("buckets"), list)
          and all(isinstance(b, dict) and set(b) == {"label", "faces", "ap", "recall"} and isinstance(b["label"], str)
                  and isinstance(b["faces"], int) and all(b[k] is None or _is_num(b[k]) for k in ("ap", "recall"))
                  for b in sz["buckets"]))
    if not ok:
        raise RecordsError(f"{where}: 'sizes' must be null or {{edges: [numbers], buckets: [{{label, faces, ap, "
                           "recall}]}")


def _line(r: dict) -> str:
    return json.dumps(r, sort_keys=True, allow_nan=False)


def write_records(path, records: dict) -> Path:
    """Write ``records`` (``{(run, seed): record}``) to ``path`` whole and atomically, sorted by (run, seed)."""
    body = "".join(_line(records[k]) + "\n" for k in sorted(records))
    return atomic_write(Path(path), body.encode())


@contextlib.contextmanager
def locked(path):
    """Exclusive lock on a records file (``path.lock``, held for the read-modify-write)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def update_records(path, new: dict) -> bool:
    """Merge ``new`` records into the file (a new record replaces the one of its (run, seed)); returns whether the
    file changed. Locked, whole, atomic."""
    with locked(path):
        old = read_records(path)
        merged = {**old, **new}
        if all(k in old and _line(old[k]) == _line(v) for k, v in new.items()):
            return False
        write_records(path, merged)
        return True


def matching(records: dict, plan, data_yaml: str) -> tuple:
    """(``{(run, seed): record}`` whose fingerprint equals the plan row's current one, ``[(run, seed)]`` of the
    plan's rows whose records are stale). Records of runs the plan does not have are neither."""
    fps = {r.name: r.fingerprint(data_yaml) for r in plan.runs}
    ok, stale = {}, []
    for (run, seed), rec in records.items():
        if run not in fps:
            continue
        if rec["fingerprint"] == fps[run]:
            ok[(run, seed)] = rec
        else:
            stale.append((run, seed))
    return ok, sorted(stale)


def metrics_of(rec: dict) -> dict:
    """A record's metrics as floats, NaN for what it does not know."""
    return {k: _num(rec["metrics"].get(k)) for k in METRIC_KEYS}


def evidence_of(rec: dict) -> dict | None:
    ev = rec.get("evidence")
    return None if ev is None else {k: _num(ev.get(k)) for k in EVIDENCE_KEYS}


def sizes_of(rec: dict, edges=SIZE_EDGES) -> list | None:
    """The record's face-height buckets (``[{label, faces, ap, recall}]``, NaN for null) when they were computed at
    ``edges``."""
    s = rec.get("sizes")
    if not s or [float(e) for e in s.get("edges", [])] != [float(e) for e in edges]:
        return None
    return [{**b, "ap": _num(b["ap"]), "recall": _num(b["recall"])} for b in s["buckets"]]


# ---------------------------------------------------------------------------------------------------------------
# what a run directory says (the loss balance at the end of training, positives, AP by face height)

_POS = re.compile(r"epoch stats: positives=([0-9.e+]+)")


def balance_evidence(run_dir: Path, positives: bool = True) -> dict:
    """Final epoch's weighted box:obj loss ratio and obj gain scale (results.csv), positives (train.log) and, with
    ``positives``, the final weights' positives per face and fraction of faces without a positive
    (``positives.cached_positives``: one forward pass over the training images per run, then cached in the run
    directory); NaN for what the run directory lacks."""
    from ultralytics.utils import LOGGER

    from .positives import PositivesError, cached_positives

    out = {"box_obj_ratio": math.nan, "obj_gain_scale": math.nan, "positives": math.nan,
           "positives_per_face": math.nan, "no_positive": math.nan}
    try:
        with open(run_dir / "results.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        last = {k.strip(): v for k, v in rows[-1].items()}
        for k in ("box_obj_ratio", "obj_gain_scale"):
            out[k] = float(last.get(f"train/{k}", "nan"))
        found = _POS.findall((run_dir / "train.log").read_text(errors="replace"))
        out["positives"] = float(found[-1]) if found else math.nan
    except (OSError, IndexError, ValueError):
        pass
    if positives:
        try:
            pf = cached_positives(run_dir)
            out["positives_per_face"], out["no_positive"] = pf["positives_per_face"], pf["no_positive"]
        except PositivesError as e:
            LOGGER.warning(f"records: no positives per face for {run_dir}: {e}")
    return out


def run_sizes(run_dir: Path, gt, edges=SIZE_EDGES) -> dict | None:
    """Hard AP and recall by face height of the run's kept predictions (``wider_pred/``), None without them."""
    from ..widerface.sizes import size_buckets

    pred = Path(run_dir) / "wider_pred"
    if gt is None or not pred.is_dir():
        return None
    buckets = size_buckets(pred, gt, edges)
    return {"edges": [float(e) for e in edges],
            "buckets": [{"label": b.label, "faces": int(b.faces), "ap": _json_num(b.ap),
                         "recall": _json_num(b.recall)} for b in buckets]}


def record_from_run(run: str, seed: int, run_dir, metrics: dict, gt=None, evidence: bool = True) -> dict:
    """The record of ``run`` seed ``seed`` from its finished, fingerprint-checked run directory (``metrics``:
    ``collect.collect_run``'s; the fingerprint, wall time, finish time and machine: its ``done.json``)."""
    run_dir = Path(run_dir)
    done = json.loads((run_dir / "done.json").read_text())
    ev = balance_evidence(run_dir) if evidence else None
    return {"run": run, "seed": int(seed), "fingerprint": done["fingerprint"],
            "fingerprint_version": int(done.get("fingerprint_version", 1)),
            "metrics": {k: (int(metrics[k]) if k in ("epochs", "best_epoch") else _json_num(metrics[k]))
                        if k in metrics else None for k in METRIC_KEYS},
            "wall_s": _json_num(done.get("wall_s")), "finished": done.get("finished"), "env": done.get("env"),
            "evidence": None if ev is None else {k: _json_num(ev[k]) for k in EVIDENCE_KEYS},
            "sizes": run_sizes(run_dir, gt), "origin": FROM_RUN}


def same_run(rec: dict | None, run_dir: Path) -> bool:
    """Whether ``rec`` was recorded from this very run (same fingerprint and finish time as its ``done.json``):
    then it need not be computed again."""
    if rec is None or rec.get("origin") != FROM_RUN:
        return False
    try:
        done = json.loads((Path(run_dir) / "done.json").read_text())
    except (OSError, ValueError):
        return False
    return rec["fingerprint"] == done.get("fingerprint") and rec.get("finished") == done.get("finished")


def load_gt(data_yaml: str):
    """The WIDER ground truth of a WIDER-format dataset (for the face-height buckets), None for other data."""
    from ..config.data import wider_section
    from ..widerface import load_ground_truth

    sec = wider_section(data_yaml, check=False)
    return load_ground_truth(sec["gt_dir"]) if sec and sec.get("gt_dir") else None


class RecordMaker:
    """Records of finished run directories of one dataset: the ground truth (for the face-height buckets) is
    loaded once, on first need, and a run already recorded from this very directory (``same_run``) is not read
    again."""

    def __init__(self, data_yaml: str):
        self.data_yaml, self._gt = data_yaml, False

    def make(self, run: str, seed: int, run_dir, metrics: dict, old: dict | None) -> dict:
        """``old`` when it was recorded from ``run_dir``, else a new record read from the directory."""
        if same_run(old, run_dir):
            return old
        if self._gt is False:
            self._gt = load_gt(self.data_yaml)
        return record_from_run(run, seed, run_dir, metrics, self._gt)


class Recorder:
    """Keeps a sweep's records file in step with its finished runs."""

    def __init__(self, path, plan, data_yaml: str, log=print):
        self.path, self.log, self.maker = Path(path), log, RecordMaker(data_yaml)
        self.records = read_records(self.path)  # RecordsError (names the file and line) before anything trains
        try:
            with locked(self.path):  # its folder and lock file can be written: found out now, not after a run
                pass
        except OSError as e:
            raise RecordsError(f"{self.path}: cannot write the records file here: {e}") from None
        self.ok, stale = matching(self.records, plan, data_yaml)
        if stale:
            log(f"ablate: {len(stale)} record(s) in {self.path} are stale (the row's settings changed since), not "
                "used: " + ", ".join(f"{r}-s{s}" for r, s in stale))

    def has(self, job) -> bool:
        return (job.run.name, job.seed) in self.ok

    def record(self, done: list) -> None:
        """Record ``[(job, metrics)]`` of finished, checked run directories that the file does not hold yet (a
        failure to record is a warning: the run directory still holds the result)."""
        todo = [(j, m) for j, m in done if not same_run(self.records.get((j.run.name, j.seed)), j.dir)]
        if not todo:
            return
        if len(todo) > 1:
            self.log(f"ablate: recording {len(todo)} finished runs in {self.path} (loss balance, positives per face, "
                     "AP by face height)")
        new = {}
        for j, metrics in todo:
            try:
                new[(j.run.name, j.seed)] = self.maker.make(j.run.name, j.seed, j.dir, metrics, None)
            except (OSError, ValueError, KeyError) as e:
                self.log(f"ablate: WARNING: could not record {j.label} in {self.path}: {e}")
        if new:
            try:
                update_records(self.path, new)
            except (OSError, RecordsError) as e:  # the run directories still hold the results: warn, go on
                self.log(f"ablate: WARNING: could not write {self.path} ({e}); the runs are recorded on the next "
                         "run of this command or of python -m yolo_ext.cli.claims")
                return
            self.records.update(new)
            self.log(f"ablate: recorded {', '.join(f'{r}-s{s}' for r, s in sorted(new))} in {self.path}")
