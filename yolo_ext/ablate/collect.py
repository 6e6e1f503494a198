"""Read one finished training run's metrics from the files the run itself wrote.

Sources (in ``<project>/<name>/``):
- ``results.csv`` (ultralytics, one row per epoch): ``metrics/mAP50(B)`` and ``metrics/mAP50-95(B)`` of the row
  whose weights are ``best.pt``: the final row when ``args.yaml`` has ``val: false`` (then only the final epoch is
  validated and best.pt is the final weights), else the first row with the highest mAP50-95 (ultralytics' fitness,
  kept with a strict ``>`` so the first epoch reaching it wins). ``train_time_s`` is the final row's ``time``
  (cumulative seconds of the training loop, per-epoch validation included, start-up and the final evaluation not).
- ``wider_ap.json`` (the trainer's WIDER FACE evaluation of best.pt): ``easy``, ``medium``, ``hard`` AP.
- ``args.yaml``: ``epochs`` and ``val``; a run that recorded fewer epochs than it was given (interrupted, or
  stopped early) did not get the plan's compute budget and is rejected.

Every problem raises ``RunResultError`` with a reason naming the file; nothing is ever filled in with a default.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import yaml

WIDER_KEYS = ("easy", "medium", "hard")
METRICS = ("easy", "medium", "hard", "mAP50", "mAP50-95", "train_time_s")  # what a run yields, in table order
CSV_COLUMNS = {"mAP50": "metrics/mAP50(B)", "mAP50-95": "metrics/mAP50-95(B)"}


class RunResultError(RuntimeError):
    """A run's result files are missing or corrupt; the message says which file and why."""


def read_results_csv(path: Path) -> list[dict]:
    """Rows of an ultralytics results.csv as {column: float}; header names stripped. Raises RunResultError."""
    if not path.is_file():
        raise RunResultError(f"{path.name} missing")
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise RunResultError(f"{path.name} unreadable: {e}") from None
    if not rows:
        raise RunResultError(f"{path.name} is empty")
    header = [h.strip() for h in rows[0]]
    missing = sorted({"epoch", "time", *CSV_COLUMNS.values()} - set(header))
    if missing:
        raise RunResultError(f"{path.name}: columns {missing} missing from the header")
    if len(rows) < 2:
        raise RunResultError(f"{path.name} has no epoch rows")
    out = []
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise RunResultError(f"{path.name} line {i}: {len(row)} fields, header has {len(header)}")
        vals = {}
        for h, v in zip(header, row):
            try:
                vals[h] = float(v)
            except ValueError:
                raise RunResultError(f"{path.name} line {i}: {h} = {v.strip()!r} is not a number") from None
        for h in ("epoch", "time", *CSV_COLUMNS.values()):
            if not math.isfinite(vals[h]):
                raise RunResultError(f"{path.name} line {i}: {h} = {vals[h]} is not finite")
        out.append(vals)
    return out


def read_wider_ap(path: Path) -> dict:
    """{"easy", "medium", "hard"} from wider_ap.json, each a finite AP in [0, 1]. Raises RunResultError."""
    if not path.is_file():
        raise RunResultError(f"{path.name} missing (the data has a widerface: section, so the trainer should write it)")
    try:
        d = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunResultError(f"{path.name} unreadable: {e}") from None
    if not isinstance(d, dict):
        raise RunResultError(f"{path.name}: expected an object with {list(WIDER_KEYS)}")
    out = {}
    for k in WIDER_KEYS:
        v = d.get(k)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.0 <= v <= 1.0:
            raise RunResultError(f"{path.name}: '{k}' = {v!r} is not an AP in [0, 1]")
        out[k] = float(v)
    return out


def read_args(path: Path) -> dict:
    if not path.is_file():
        raise RunResultError(f"{path.name} missing")
    try:
        d = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise RunResultError(f"{path.name} unreadable: {e}") from None
    if not isinstance(d, dict) or not isinstance(d.get("epochs"), int):
        raise RunResultError(f"{path.name}: no integer 'epochs'")
    return d


def best_row(rows: list[dict], val: bool) -> dict:
    """The results.csv row whose weights are best.pt (see the module docstring)."""
    if not val:
        return rows[-1]
    col = CSV_COLUMNS["mAP50-95"]
    best = max(r[col] for r in rows)
    return next(r for r in rows if r[col] == best)


def collect_run(run_dir, expect_wider: bool) -> dict:
    """Metrics of one finished run, keyed as ``METRICS`` (+ ``epochs``, ``best_epoch``).

    ``expect_wider``: the data is WIDER-format, so ``wider_ap.json`` must exist; when False the WIDER APs are NaN
    (not applicable), never 0. Raises RunResultError naming the file at fault.
    """
    run_dir = Path(run_dir)
    args = read_args(run_dir / "args.yaml")
    rows = read_results_csv(run_dir / "results.csv")
    done_epochs = int(rows[-1]["epoch"])
    if done_epochs != args["epochs"]:
        raise RunResultError(f"results.csv records {done_epochs} epochs, args.yaml asks for {args['epochs']} "
                             f"(interrupted or stopped early: not the plan's compute budget)")
    row = best_row(rows, bool(args.get("val", True)))
    m = {k: float(row[c]) for k, c in CSV_COLUMNS.items()}
    m["train_time_s"] = float(rows[-1]["time"])
    m["epochs"] = done_epochs
    m["best_epoch"] = int(row["epoch"])
    wider = read_wider_ap(run_dir / "wider_ap.json") if expect_wider else dict.fromkeys(WIDER_KEYS, math.nan)
    return {**wider, **m}
