"""The repository root, the one place that knows where ``models/``, ``data/`` and ``datasets/`` live."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # yolo_ext/utils/repo.py -> the checkout (holds models/, data/)


def datasets_dir() -> Path:
    """Where generated datasets are cached: ``$YOLO_EXT_DATASETS``, else ``<repo>/datasets`` (git-ignored)."""
    env = os.environ.get("YOLO_EXT_DATASETS")
    return Path(env) if env else ROOT / "datasets"
