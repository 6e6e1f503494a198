"""Tiny datasets for ``--quick`` (CI): prove the ablation pipeline end to end in seconds, not the numbers.

- ``wider``: a 16 + 8 image, 160 px synthetic WIDER FACE set (``yolo_ext.widerface.synth``) converted to YOLO, so the
  trainer's WIDER evaluation and the easy/medium/hard columns are exercised too.
- ``blobs``: a plain YOLO set of filled ellipses on noise, no ``widerface:`` section (WIDER columns are n/a), for
  a plan's ``data: tiny-blobs``.

Both are deterministic and cached under ``$YOLO_EXT_DATASETS`` or ``<repo>/datasets``, built in a temp directory and
renamed into place (``yolo_ext.utils.files.atomic_dir``), so an interrupted build is redone and never half-read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from ..config.data import resolve_data
from ..utils.files import atomic_dir
from ..utils.repo import datasets_dir
from ..widerface.convert import convert
from ..widerface.synth import synth

N_TRAIN, N_VAL, SIZE, SEED = 16, 8, 160, 0
VERSION = 1  # bump when either generator's output changes


def default_kind() -> str:
    """The WIDER-format set (it exercises the WIDER columns too); ``blobs`` only when asked for."""
    return "wider"


def ensure_tiny_dataset(kind: str | None = None, cache=None) -> Path:
    """Build (once) and return the YAML of the tiny ``kind`` dataset (``wider`` or ``blobs``; default: wider if
    available)."""
    kind = kind or default_kind()
    if kind not in ("wider", "blobs"):
        raise ValueError(f"tiny dataset kind must be 'wider' or 'blobs', got {kind!r}")
    out = Path(cache or datasets_dir()).resolve() / f"ablate-tiny-{kind}-v{VERSION}-{N_TRAIN}-{N_VAL}-{SIZE}"
    yaml_path = out / "data.yaml"
    if yaml_path.is_file():
        return yaml_path
    with atomic_dir(out, keep_existing=True) as tmp:  # a concurrent build that finished first is kept
        (_build_wider if kind == "wider" else _build_blobs)(tmp, out)
    return yaml_path


def _write_yaml(tmp: Path, out: Path, cfg: dict) -> None:
    (tmp / "data.yaml").write_text(yaml.safe_dump({"path": str(out / "yolo"), **cfg}, sort_keys=False))


def _build_wider(tmp: Path, out: Path) -> None:
    """Synthetic WIDER layout in tmp/wider, YOLO conversion in tmp/yolo; paths in data.yaml point at ``out``."""

    synth(tmp / "wider", N_TRAIN, N_VAL, SEED, SIZE)
    cfg = yaml.safe_load(convert(tmp / "wider", tmp / "yolo", copy=True).read_text())  # copies: tmp is renamed
    sec = {k: str(out / Path(v).relative_to(tmp.resolve())) for k, v in cfg["widerface"].items()}
    _write_yaml(tmp, out, {"train": cfg["train"], "val": cfg["val"], "names": cfg["names"], "widerface": sec})


def _build_blobs(tmp: Path, out: Path) -> None:
    """1-4 filled ellipses per image on grey noise, exact YOLO labels (class 0)."""

    rng = np.random.default_rng(SEED)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for split, n in (("train", N_TRAIN), ("val", N_VAL)):
        (tmp / "yolo" / "images" / split).mkdir(parents=True)
        (tmp / "yolo" / "labels" / split).mkdir(parents=True)
        for k in range(n):
            img = rng.integers(60, 120, (SIZE, SIZE, 3)).astype(np.uint8)
            m = int(rng.integers(1, 5))
            wh = rng.uniform(0.12, 0.45, (m, 2)) * SIZE
            c = rng.uniform(wh / 2, SIZE - wh / 2)
            inside = ((xx[None] - c[:, 0, None, None]) / (wh[:, 0, None, None] / 2)) ** 2 + (
                (yy[None] - c[:, 1, None, None]) / (wh[:, 1, None, None] / 2)) ** 2 <= 1  # (m, SIZE, SIZE)
            img[inside.any(0)] = (230, 40, 40)
            Image.fromarray(img).save(tmp / "yolo" / "images" / split / f"im{k}.jpg", quality=95)
            rows = [f"0 {x / SIZE:.6f} {y / SIZE:.6f} {w / SIZE:.6f} {h / SIZE:.6f}" for (x, y), (w, h) in zip(c, wh)]
            (tmp / "yolo" / "labels" / split / f"im{k}.txt").write_text("\n".join(rows) + "\n")
    _write_yaml(tmp, out, {"train": "images/train", "val": "images/val", "names": {0: "blob"}})


def resolve_plan_data(data: str) -> str:
    """A plan's ``data``: 'tiny' / 'tiny-wider' / 'tiny-blobs' -> ensure_tiny_dataset; anything else goes through
    ``yolo_ext.config.resolve_data`` ('synth' -> the built-in synthetic WIDER set, else a YAML path)."""
    if data in ("tiny", "tiny-wider", "tiny-blobs"):
        return str(ensure_tiny_dataset(data.partition("-")[2] or None))
    return resolve_data(data)
