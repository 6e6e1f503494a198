"""Dataset arguments: the built-in synthetic set, bundled YAMLs, and the ``widerface:`` section of a data YAML."""

from __future__ import annotations

from pathlib import Path

import yaml

from ..widerface.synth import ensure_synth_dataset
from .paths import DATA


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
    d = yaml.safe_load(p.read_text()) if p.suffix in (".yaml", ".yml") else None
    if isinstance(d, dict) and isinstance(d.get("synth"), dict):
        s = d["synth"]
        unknown = set(s) - {"train", "val", "seed", "size"}
        if unknown:
            raise SystemExit(f"{p}: unknown synth keys {sorted(unknown)}; valid: train, val, seed, size")
        return str(ensure_synth_dataset(int(s.get("train", 300)), int(s.get("val", 100)), int(s.get("seed", 0)),
                                        int(s.get("size", 416))))
    return str(p.resolve())


def wider_section(data) -> dict | None:
    """The ``widerface`` section of a dataset dict or YAML path (None if absent), paths checked."""
    if isinstance(data, (str, Path)):
        p = Path(data)
        data = yaml.safe_load(p.read_text()) if p.is_file() else {}
    sec = (data or {}).get("widerface")
    if not sec:
        return None
    for k in ("gt_dir", "val_images"):
        if not sec.get(k) or not Path(sec[k]).exists():
            raise FileNotFoundError(f"dataset YAML widerface.{k}: '{sec.get(k)}' does not exist")
    return sec
