"""Search spaces for ``python -m yolo_ext.tune``: a YAML naming the data, the fixed training settings and the
distribution of every searched key.

    name: obj-balance             # optional (default: the file name)
    data: tiny                    # as in an ablation plan: a dataset YAML, 'synth' or 'tiny'
    base: {model: face-vgg-fpn.yaml, epochs: 16, imgsz: 416, batch: 16, device: cpu}   # every trial
    space:
      lr0: {loguniform: [0.001, 0.05]}
      obj: {uniform: [0.5, 4.0]}
      ignore_iou: {quniform: [0.3, 0.7, 0.05]}    # low, high, step
      radius: {randint: [1, 3]}                  # integers low..high, both included
      assigner: {choice: [yolov5+ignore, distance+ignore+dedup]}

Any ultralytics trainer argument or yolo-ext extension key may be searched except the compute budget
(``ablate.plan.BASE_ONLY``: every trial gets the same epochs, image size, batch, ...) and the keys the runner sets
(``RESERVED``). Everything is checked when the file is loaded, before any trial starts: unknown keys (with
suggestions), an empty space, malformed distributions, and every value a distribution can produce (its bounds, each
choice) merged onto ``base`` through the same ``check_config`` as an ablation run. Errors name the file and line.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path

import yaml

try:
    from ray import tune as raytune
except ImportError:  # optional: pip install -e .[ray]; search.py says so before anything else
    raytune = None

from ..ablate.plan import BASE_ONLY, RESERVED, allowed_keys, check_config

SPACE_KEYS = {"name", "description", "data", "base", "space"}
KINDS = {"uniform": 2, "loguniform": 2, "quniform": 3, "randint": 2, "choice": None}


class SpaceError(ValueError):
    """An invalid search-space file; the message names the file (and line and key where they apply)."""


@dataclass(frozen=True)
class Dist:
    """One searched key: ``kind`` in ``KINDS`` and its arguments."""

    key: str
    kind: str
    args: tuple

    def values_to_check(self) -> list:
        """Values this distribution can produce that bound the rest: its ends, or every choice."""
        if self.kind == "choice":
            return list(self.args)
        if self.kind == "randint":
            return [int(self.args[0]), int(self.args[1])]
        return [float(self.args[0]), float(self.args[1])]

    def to_tune(self):
        """The Ray Tune sampler (``randint``'s high is inclusive here, exclusive in Tune)."""
        tune = raytune
        lo, hi = self.args[0], self.args[1] if len(self.args) > 1 else None
        return {"uniform": lambda: tune.uniform(lo, hi), "loguniform": lambda: tune.loguniform(lo, hi),
                "quniform": lambda: tune.quniform(lo, hi, self.args[2]), "randint": lambda: tune.randint(lo, hi + 1),
                "choice": lambda: tune.choice(list(self.args))}[self.kind]()


@dataclass(frozen=True)
class Space:
    path: Path
    name: str
    description: str
    data: str
    base: dict
    dists: tuple

    @property
    def keys(self) -> list:
        return [d.key for d in self.dists]


def _lines(node) -> dict:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: (k.start_mark.line + 1, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def load_space(path) -> Space:
    """Read and validate a search-space YAML (see the module docstring). Raises SpaceError."""
    path = Path(path)
    if not path.is_file():
        raise SpaceError(f"search space file not found: {path}")
    text = path.read_text()
    try:
        root, raw = yaml.compose(text), yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpaceError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise SpaceError(f"{path}: a search space is a mapping with keys {sorted(SPACE_KEYS)}")
    top = _lines(root)

    def fail(msg, line=None):
        raise SpaceError(f"{path}:{line}: {msg}" if line else f"{path}: {msg}")

    unknown = sorted(set(raw) - SPACE_KEYS)
    if unknown:
        fail(f"unknown top-level key(s) {unknown}; a search space has {sorted(SPACE_KEYS)}", top[unknown[0]][0])
    for key in ("data", "base", "space"):
        if key not in raw:
            fail(f"missing required key '{key}'")
    if not isinstance(raw["data"], str) or not raw["data"]:
        fail("'data' must be a dataset YAML path, 'synth' or 'tiny'", top["data"][0])
    base = raw["base"]
    if not isinstance(base, dict) or not base.get("model"):
        fail("'base' must be a mapping of trainer arguments with a 'model'", top["base"][0])
    valid = allowed_keys()
    for k in base:
        if k not in valid:
            fail(f"base: unknown key '{k}' (reserved for the runner, or not a trainer/yolo-ext key)",
                 _lines(top["base"][1]).get(k, (top["base"][0],))[0])
    try:
        check_config(dict(base))
    except (ValueError, TypeError, FileNotFoundError) as e:
        fail(f"base: {e}", top["base"][0])
    space = raw["space"]
    if not isinstance(space, dict) or not space:
        fail("the search space is empty: give at least one key under 'space', e.g. lr0: {loguniform: [0.001, 0.05]}",
             top["space"][0])
    lines = _lines(top["space"][1])
    dists = tuple(_dist(k, v, base, valid, lambda m, k=k: fail(m, lines.get(k, (top["space"][0],))[0]))
                  for k, v in space.items())
    return Space(path=path.resolve(), name=str(raw.get("name") or path.stem),
                 description=str(raw.get("description") or ""), data=raw["data"], base=base, dists=dists)


def _dist(key, spec, base, valid, fail) -> Dist:
    if key in RESERVED or key in BASE_ONLY:
        fail(f"'{key}' cannot be searched: " + ("the runner sets it" if key in RESERVED else
             f"the compute budget and environment ({sorted(BASE_ONLY)}) are the same for every trial, set it in base"))
    if key not in valid:
        close = difflib.get_close_matches(str(key), sorted(valid), n=3)
        fail(f"unknown key '{key}' in the search space: not an ultralytics trainer argument nor a yolo-ext key"
             + (f"; did you mean {close}?" if close else ""))
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in KINDS:
        fail(f"'{key}': a distribution is one of {{{', '.join(f'{k}: [...]' for k in KINDS)}}}, got {spec!r}")
    kind, args = next(iter(spec.items()))
    if not isinstance(args, list) or not args or (KINDS[kind] and len(args) != KINDS[kind]):
        fail(f"'{key}': {kind} takes a list of {KINDS[kind] or 'one or more'} values, got {args!r}")
    if kind != "choice":
        if not all(isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a) for a in args):
            fail(f"'{key}': {kind} bounds must be finite numbers, got {args!r}")
        if not args[0] < args[1] or (kind == "loguniform" and args[0] <= 0) or (kind == "quniform" and args[2] <= 0):
            fail(f"'{key}': {kind} needs low < high" + (" and low > 0" if kind == "loguniform" else "")
                 + (" and step > 0" if kind == "quniform" else "") + f", got {args!r}")
        if kind == "randint" and not all(isinstance(a, int) for a in args):
            fail(f"'{key}': randint bounds must be integers, got {args!r}")
    d = Dist(key, kind, tuple(args))
    for v in d.values_to_check():
        try:
            check_config({**base, key: v})
        except (ValueError, TypeError, FileNotFoundError) as e:
            fail(f"'{key}' = {v!r} (from {kind} {args}) is not a valid value: {e}")
    return d
