"""The repository root: the one place that knows where ``models/``, ``data/`` and ``datasets/`` live."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # yolo_ext/utils/repo.py -> the checkout (holds models/, data/)
