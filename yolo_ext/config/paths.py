"""Where things live: the repository root, bundled model YAMLs, run directories."""

from __future__ import annotations

from pathlib import Path

from ..utils.repo import ROOT

MODELS = ROOT / "models"
DATA = ROOT / "data"


def resolve_model_cfg(cfg: str | Path) -> Path:
    """A model YAML given as a path, or as a bare name/file in the repo's ``models/`` (``yolov5n``,
    ``yolov5n.yaml``). Never falls back to ultralytics' own (anchor-free) YAMLs of the same name."""
    p = Path(cfg)
    for cand in (p, MODELS / p, MODELS / p.name, (MODELS / p.name).with_suffix(".yaml")):
        if cand.is_file():
            return cand.resolve()
    avail = ", ".join(sorted(x.name for x in MODELS.glob("*.yaml")))
    raise FileNotFoundError(f"model YAML '{cfg}' not found (looked in . and {MODELS}); bundled: {avail}")


def resolve_run_dir(project: str | Path) -> str:
    """Absolute run directory (a relative ``project`` would otherwise land under ultralytics' settings dir)."""
    return str(Path(project).expanduser().resolve())
