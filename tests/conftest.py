"""Shared fixtures: offline mode, a tiny generated detection dataset, repo paths."""

import os
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")

import pytest

from helpers import ROOT, make_tiny_dataset


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny1"))


@pytest.fixture(scope="session")
def tiny_data_nc3(tmp_path_factory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny3"), nc=3, seed=1)


@pytest.fixture(scope="session")
def shared_widerface() -> Path | None:
    p = Path(os.environ.get("WIDERFACE_SHARED", ROOT.parent / "shared" / "widerface"))
    return p if (p / "ground_truth" / "wider_face_val.mat").exists() else None
