"""Dataset arguments: the built-in synthetic set, bundled YAMLs, and the ``widerface:`` section of a data YAML."""

from __future__ import annotations

from pathlib import Path

import yaml

from ..widerface.synth import ensure_synth_dataset
from .errors import ConfigError
from .paths import DATA

SYNTH_KEYS = {"train": 300, "val": 100, "seed": 0, "size": 416}  # a data YAML's `synth:` section


def resolve_data(data: str) -> str:
    """Dataset argument -> ultralytics dataset YAML path.

    'synth' (or 'default') is the built-in synthetic WIDER-format set; a YAML with a ``synth:`` section
    (``data/widerface-synth.yaml``) generates that synthetic set (cached, deterministic); a bare file name is also
    looked up in ``data/``; anything else is passed to ultralytics as is."""
    if data in ("synth", "default"):
        return str(ensure_synth_dataset())
    p = Path(data)
    if p.suffix in (".yaml", ".yml") and not p.exists() and (DATA / p.name).exists():
        p = DATA / p.name
    if not p.exists():
        return data
    d = _read_yaml(p) if p.suffix in (".yaml", ".yml") else None
    if isinstance(d, dict) and isinstance(d.get("synth"), dict):
        return str(ensure_synth_dataset(**_synth_args(p, d["synth"])))
    return str(p.resolve())


def _read_yaml(p: Path):
    try:
        return yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from None


def _synth_args(p: Path, s: dict) -> dict:
    """A ``synth:`` section -> ``ensure_synth_dataset`` arguments (positive integers; seed >= 0)."""
    unknown = sorted(set(s) - set(SYNTH_KEYS))
    if unknown:
        raise ConfigError(f"{p}: unknown synth key(s) {unknown}; valid: {', '.join(SYNTH_KEYS)}")
    out = {}
    for k, default in SYNTH_KEYS.items():
        v = s.get(k, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if k == "seed" else 1):
            raise ConfigError(f"{p}: synth.{k}: {v!r} must be an integer >= {0 if k == 'seed' else 1}")
        out[{"train": "n_train", "val": "n_val"}.get(k, k)] = v
    return out


def wider_section(data, check: bool = True) -> dict | None:
    """The ``widerface`` section of a dataset dict or YAML path, or None when it has none (the one place that decides
    whether data is WIDER-format). ``check``: its ``gt_dir`` and ``val_images`` must exist.

    Raises:
        FileNotFoundError: with ``check``, a missing path (naming the YAML key and the path).
    """
    src = "dataset"
    if isinstance(data, (str, Path)):
        p = Path(data)
        src = str(p)
        data = _read_yaml(p) if p.is_file() else {}
    sec = data.get("widerface") if isinstance(data, dict) else None
    if not sec:
        return None
    if not isinstance(sec, dict):
        raise ConfigError(f"{src}: 'widerface' must be a mapping with gt_dir and val_images, got {sec!r}")
    for k in ("gt_dir", "val_images") if check else ():
        if not sec.get(k) or not Path(sec[k]).exists():
            raise FileNotFoundError(f"{src}: widerface.{k}: '{sec.get(k)}' does not exist")
    return sec
