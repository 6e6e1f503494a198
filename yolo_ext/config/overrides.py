"""Hyperparameters from the command line and from files: ``--set key=value`` items and ``--hyp`` YAMLs."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import ConfigError


def parse_set(items: list[str]) -> dict:
    """``["k=v", ...]`` -> dict, values parsed as YAML scalars (``0.5``, ``true``, ``[1,2]``, ``radius``).

    Every item counts (``--set a=1 --set b=2`` gives both); a key given twice keeps its last value. An empty value
    (``anchor_t=``) is ``None`` (``validate`` rejects it for keys that need a value).

    Raises:
        ConfigError: an item without ``=`` or key, or a value that is not valid YAML (naming the item).
    """
    out = {}
    for item in items or []:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {key.strip()}={value}: not a valid YAML value ({type(e).__name__}: "
                              f"{str(e).splitlines()[0]})") from None
    return out


def load_hyp(path: str | Path) -> dict:
    """Hyperparameter YAML -> dict.

    Raises:
        ConfigError: the file is missing, not YAML, or not a mapping (naming the file).
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--hyp: file not found: {p}")
    try:
        d = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"--hyp {p}: not valid YAML: {e}") from None
    if not isinstance(d, dict):
        raise ConfigError(f"--hyp {p}: expected a mapping of hyperparameters, got {type(d).__name__}")
    return d
