"""Ablation plans: a YAML naming the data, the common training settings and the configurations to compare.

    name: study                    # free text
    description: ...               # optional
    data: synth                    # dataset YAML path, 'synth' (cli.resolve_data) or 'tiny' (see tinydata.py)
    seeds: 3                       # optional default for --seeds
    base: {model: ..., epochs: 18, imgsz: 416, batch: 16, ...}   # every run gets these
    runs:
      - name: yolov5               # [A-Za-z0-9_.+-], unique; the run directory is <out>/runs/<name>-s<seed>
        description: ...           # optional
        baseline: true             # optional; deltas are against this run (default: the first)
        overrides: {assigner: yolov5}

Everything is checked when the plan is loaded, before any training starts, and errors name the plan file, the line
and the run: keys must be ultralytics trainer arguments or yolo-ext extension keys (``settings.ext_defaults()``),
values must have the type of their default, assigner specs must build, loss names must resolve, model YAMLs must
exist. The compute budget (``BASE_ONLY`` keys: epochs, image size, batch, ...) may only be set in ``base``, so every
configuration trains on the same data for the same budget; keys the runner sets itself (``RESERVED``) are refused.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from ultralytics.cfg import check_cfg
from ultralytics.utils import DEFAULT_CFG_KEYS

from ..config.defaults import ext_defaults
from ..config.paths import resolve_model_cfg
from ..config.validate import ALIASES, validate
from ..utils.repo import ROOT, datasets_dir

PLAN_KEYS = {"name", "description", "data", "seeds", "base", "runs"}
RUN_KEYS = {"name", "description", "baseline", "overrides"}
# set by the runner for every run (data from the plan's top level, the rest per run and seed)
RESERVED = {"data", "seed", "project", "name", "exist_ok", "resume", "mode", "task"}
# the compute budget and the execution environment: the same for every configuration, so `base` only
BASE_ONLY = {"epochs", "imgsz", "batch", "fraction", "time", "patience", "val", "device", "workers", "deterministic"}
# left out of the run fingerprint: output-only keys, and the device (so --device can move a sweep to a GPU; every
# run records its machine in env.json and the report lists each distinct one). workers and cache stay in: they
# change which images mosaic combines, hence the numbers.
NON_FINGERPRINT = {"device", "plots", "verbose"}
RUN_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")


class PlanError(ValueError):
    """An invalid plan; the message names the plan file (and line and run where they apply)."""


@dataclass(frozen=True)
class RunSpec:
    """One configuration: ``config`` holds the full trainer overrides (base merged with the run's overrides)."""

    name: str
    description: str
    config: dict
    baseline: bool = False
    line: int = 0

    def fingerprint(self, data: str) -> str:
        """Hash of what the run computes (config without ``NON_FINGERPRINT`` keys, plus the data); stored in the
        completion marker so that a run whose configuration changed in the plan is not silently reused.

        Location-independent (``FINGERPRINT_VERSION`` 2): the model YAML counts by its place in the checkout and
        its content (``file_identity``), the data YAML by its place under the datasets folder or the checkout, so
        a sweep's finished runs stay valid when the output directory is resumed from another clone of the
        repository, while editing a model YAML makes its runs stale."""
        d = {k: v for k, v in sorted(self.config.items()) if k not in NON_FINGERPRINT}
        if d.get("model"):
            d["model"] = file_identity(d["model"], content=True)
        blob = json.dumps({"v": FINGERPRINT_VERSION, "data": file_identity(data), "config": d}, sort_keys=True,
                          default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def legacy_fingerprint(self, data: str, model: str | None) -> str:
        """The version-1 fingerprint (absolute paths hashed as they were) of this configuration with the model and
        data paths a run recorded: lets ``runner.check_done`` accept runs finished before version 2 when nothing
        but their checkout's location differs."""
        d = {k: v for k, v in sorted(self.config.items()) if k not in NON_FINGERPRINT}
        if model is not None:
            d["model"] = model
        blob = json.dumps({"data": data, "config": d}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


FINGERPRINT_VERSION = 2


def file_identity(path, content: bool = False) -> str:
    """A file named the same way from any clone: relative to the datasets folder (``datasets_dir()``) or to the
    repository root when it lies there, else its absolute path; with ``content`` the SHA-256 of its bytes is
    appended (when the file can be read)."""
    raw = Path(str(path)).expanduser()
    name = None
    for root, tag in ((datasets_dir(), "datasets"), (ROOT, "repo")):
        for cand, base in ((raw.absolute(), root.absolute()), (raw.resolve(), root.resolve())):
            try:
                name = f"{tag}:{cand.relative_to(base).as_posix()}"
                break
            except ValueError:
                continue
        if name:
            break
    if name is None:
        name = str(raw.absolute())
    if content:
        try:
            name += "@" + hashlib.sha256(raw.read_bytes()).hexdigest()[:16]
        except OSError:
            pass
    return name


def same_place(old, new, content: bool = False) -> bool:
    """Whether a path a run recorded (perhaps in another clone, perhaps gone since) names the file ``new`` names
    now: the same ``file_identity``, or, for a file of the datasets folder or the checkout, a recorded path that
    ends in the same relative path; with ``content`` the two files must also have the same bytes when both can
    be read."""
    old, new = str(old), str(new)
    ident = file_identity(new)
    tag, _, rel = ident.partition(":")
    if Path(old).exists() and file_identity(old) == ident:
        placed = True
    elif tag in ("datasets", "repo") and rel:
        placed = Path(old).as_posix().endswith("/" + rel)
    else:
        placed = old == new
    if not placed or not content:
        return placed
    try:
        return Path(old).read_bytes() == Path(new).read_bytes()
    except OSError:  # the old checkout is gone: its location is all that was ever hashed (version 1)
        return True


@dataclass(frozen=True)
class Plan:
    path: Path
    name: str
    description: str
    data: str
    seeds: int
    base: dict
    runs: tuple

    @property
    def baseline(self) -> RunSpec:
        """The run marked ``baseline: true``, else the first run."""
        return next((r for r in self.runs if r.baseline), self.runs[0])


def allowed_keys() -> set:
    """Trainer keys a plan may set: ultralytics' default cfg keys plus yolo-ext's (and their aliases), minus
    ``RESERVED``."""
    return (set(DEFAULT_CFG_KEYS) | set(ext_defaults()) | set(ALIASES)) - RESERVED


def _lines(node) -> dict:
    """{key: 1-based line} for a YAML mapping node; {} for anything else."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


def _child(node, key):
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def load_plan(path, check_files: bool = True) -> Plan:
    """Read and validate a plan YAML (see the module docstring). ``check_files=False`` skips the model-file check
    (to validate a plan whose model YAMLs live elsewhere); everything else is always checked.

    Raises:
        PlanError: naming the file, line and run of the first problem found.
    """
    path = Path(path)
    if not path.is_file():
        raise PlanError(f"plan file not found: {path}")
    text = path.read_text()
    try:
        root = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise PlanError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise PlanError(f"{path}: a plan is a mapping with keys {sorted(PLAN_KEYS)}")
    top = _lines(root)

    def fail(msg, key=None, line=None):
        line = line or top.get(key)
        raise PlanError(f"{path}:{line}: {msg}" if line else f"{path}: {msg}")

    unknown = sorted(set(raw) - PLAN_KEYS)
    if unknown:
        fail(f"unknown top-level key(s) {unknown}; a plan has {sorted(PLAN_KEYS)}", unknown[0])
    for key in ("data", "runs"):
        if key not in raw:
            fail(f"missing required key '{key}'")
    if not isinstance(raw["data"], str) or not raw["data"]:
        fail("'data' must be a dataset YAML path, 'synth' or 'tiny'", "data")
    seeds = raw.get("seeds", 1)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        fail(f"'seeds' must be a positive integer, got {seeds!r}", "seeds")
    base = raw.get("base") or {}
    if not isinstance(base, dict):
        fail("'base' must be a mapping of trainer arguments", "base")
    base_lines = _lines(_child(root, "base"))
    _check_keys(base, "base", lambda k: fail(k[1], line=base_lines.get(k[0]) or top.get("base")), base_only_ok=True)

    runs_raw = raw["runs"]
    if not isinstance(runs_raw, list) or not runs_raw:
        fail("'runs' must be a non-empty list of {name, description, overrides}", "runs")
    run_nodes = getattr(_child(root, "runs"), "value", [])
    runs = [_load_run(r, i, base, run_nodes[i] if i < len(run_nodes) else None, fail, check_files)
            for i, r in enumerate(runs_raw)]
    names = [r.name for r in runs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        fail(f"run names must be unique, repeated: {dup}", "runs")
    if sum(r.baseline for r in runs) > 1:
        fail(f"more than one run marked 'baseline: true': {[r.name for r in runs if r.baseline]}", "runs")
    return Plan(path=path.resolve(), name=str(raw.get("name") or path.stem),
                description=str(raw.get("description") or ""), data=raw["data"], seeds=seeds, base=base,
                runs=tuple(runs))


def _load_run(r, i, base, node, fail, check_files) -> RunSpec:
    line = node.start_mark.line + 1 if node is not None else None
    if not isinstance(r, dict):
        fail(f"runs[{i}] must be a mapping with keys {sorted(RUN_KEYS)}", line=line)
    name = r.get("name")
    if not isinstance(name, str) or not RUN_NAME.match(name):
        fail(f"runs[{i}]: 'name' must be a string of letters, digits and _.+- (it names a directory), got {name!r}",
             line=line)
    where = f"run '{name}'"
    unknown = sorted(set(r) - RUN_KEYS)
    if unknown:
        fail(f"{where}: unknown key(s) {unknown}; a run has {sorted(RUN_KEYS)}",
             line=_lines(node).get(unknown[0], line))
    ov = r.get("overrides") or {}
    if not isinstance(ov, dict):
        fail(f"{where}: 'overrides' must be a mapping of trainer arguments", line=line)
    ov_lines = _lines(_child(node, "overrides"))
    _check_keys(ov, where, lambda k: fail(k[1], line=ov_lines.get(k[0], line)), base_only_ok=False)
    config = {**base, **ov}
    try:
        config = check_config(config, check_files)
    except (ValueError, TypeError, FileNotFoundError) as e:
        fail(f"{where}: {e}", line=line)
    baseline = r.get("baseline", False)
    if not isinstance(baseline, bool):
        fail(f"{where}: 'baseline' must be true or false", line=line)
    return RunSpec(name=name, description=str(r.get("description") or ""), config=config, baseline=baseline,
                   line=line or 0)


def _check_keys(d: dict, where: str, fail, base_only_ok: bool) -> None:
    """Every key known and allowed here; calls ``fail((key, message))`` on the first offender."""
    valid = allowed_keys()
    for k in d:
        if k in RESERVED:
            fail((k, f"{where}: '{k}' is set by the runner (data: the plan's top-level 'data'; seed: --seeds; "
                      f"project/name: --out and the run name), remove it"))
        if k not in valid:
            close = difflib.get_close_matches(str(k), sorted(valid), n=3)
            hint = f"; did you mean {close}?" if close else ""
            fail((k, f"{where}: unknown key '{k}': not an ultralytics trainer argument nor a yolo-ext key "
                     f"(yolo_ext.config.ext_defaults){hint}"))
        if k in BASE_ONLY and not base_only_ok:
            fail((k, f"{where}: '{k}' belongs in 'base': the compute budget and environment ({sorted(BASE_ONLY)}) are "
                     f"the same for every configuration"))


def check_config(config: dict, check_files: bool = True) -> dict:
    """Validate one run's merged trainer overrides (``yolo_ext.config.validate`` for the extension keys, ultralytics'
    ``check_cfg`` for its own); returns a copy with extension values converted and the model YAML resolved to an
    absolute path.

    Raises ValueError (ConfigError) / TypeError / FileNotFoundError with the offending key and value.
    """
    config = validate(config)
    ext = ext_defaults()
    check_cfg({k: v for k, v in config.items() if k not in ext}, hard=True)
    if not config.get("model"):
        raise ValueError("no 'model' (set it in base or in the run's overrides)")
    if check_files:
        config["model"] = str(resolve_model_cfg(config["model"]))
    return config
