"""Shared fixtures: offline mode, a tiny generated detection dataset, repo paths."""

import os
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")

import numpy as np
import pytest
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def make_tiny_dataset(root: Path, n_train=8, n_val=4, size=96, nc=1, seed=0, bad_label=False) -> Path:
    """Blobs on noise: each image gets 1-4 filled ellipses (one class per colour) with exact YOLO labels."""
    rng = np.random.default_rng(seed)
    colours = np.array([[230, 40, 40], [40, 200, 60], [40, 60, 230]])
    for split, n in (("train", n_train), ("val", n_val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for k in range(n):
            img = rng.integers(60, 120, (size, size, 3)).astype(np.uint8)
            yy, xx = np.mgrid[:size, :size]
            rows = []
            for _ in range(rng.integers(1, 5)):
                c = int(rng.integers(0, nc))
                w, h = rng.uniform(0.12, 0.45, 2) * size
                cx, cy = rng.uniform(w / 2, size - w / 2), rng.uniform(h / 2, size - h / 2)
                m = ((xx - cx) / (w / 2)) ** 2 + ((yy - cy) / (h / 2)) ** 2 <= 1
                img[m] = colours[c]
                rows.append(f"{c} {cx / size:.6f} {cy / size:.6f} {w / size:.6f} {h / size:.6f}")
            if bad_label and split == "train" and k == 0:
                rows.append("0 0.5 0.5")  # malformed row: ultralytics skips this image with a warning
            Image.fromarray(img).save(root / "images" / split / f"im{k}.jpg", quality=95)
            (root / "labels" / split / f"im{k}.txt").write_text("\n".join(rows) + "\n")
    cfg = {"path": str(root), "train": "images/train", "val": "images/val", "names": {i: f"c{i}" for i in range(nc)}}
    y = root / "data.yaml"
    y.write_text(yaml.safe_dump(cfg))
    return y


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
