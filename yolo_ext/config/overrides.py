"""Hyperparameters from the command line and from files: ``--set key=value`` items and ``--hyp`` YAMLs."""

from __future__ import annotations

from pathlib import Path

import yaml


def parse_set(items: list[str]) -> dict:
    """``["k=v", ...]`` -> dict, values parsed as YAML scalars (``0.5``, ``true``, ``[1,2]``, ``radius``)."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--set expects key=value, got '{item}'")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else None
    return out



def load_hyp(path: str | Path) -> dict:
    """Hyperparameter YAML -> dict (clear error naming the file)."""
    p = Path(path)
    if not p.is_file():
        raise SystemExit(f"--hyp: file not found: {p}")
    d = yaml.safe_load(p.read_text()) or {}
    if not isinstance(d, dict):
        raise SystemExit(f"--hyp {p}: expected a mapping of hyperparameters, got {type(d).__name__}")
    return d
