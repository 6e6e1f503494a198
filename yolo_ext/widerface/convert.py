"""Official WIDER FACE layout -> ultralytics YOLO detection dataset (one class: face).

Input (Yang et al., CVPR 2016 release): ``ROOT/WIDER_{train,val}/images/<event>/<name>.jpg``,
``ROOT/wider_face_split/wider_face_{train,val}_bbx_gt.txt`` (per image: path line, count line,
then ``x1 y1 w h blur expression illumination invalid occlusion pose`` rows in pixels; a face-less
image has count 0 and one dummy row of ten zeros), ``ROOT/eval_tools/ground_truth/*.mat``.

Output: ``OUT/images/<split>/<event>/<name>.jpg`` (symlinks, or copies), ``OUT/labels/<split>/
<event>/<name>.txt`` (``0 cx cy w h`` normalised to the image) and ``OUT/<OUT name>.yaml``.
Face filtering is vectorised over the whole split; only the text parsing walks lines.
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np
import yaml
from PIL import Image

from ..utils.files import atomic_dir
from ..utils.owned import check_output_dir, write_marker

ANNOT = "wider_face_split/wider_face_{}_bbx_gt.txt"
IMAGES = "WIDER_{}/images"
GT_DIR = "eval_tools/ground_truth"
INVALID_COL = 7
TOOL = "python -m yolo_ext.widerface convert"  # the marker of our outputs (yolo_ext.utils.owned)


class AnnotationError(ValueError):
    """A malformed WIDER annotation file (the message names file and line)."""


@dataclass
class Split:
    """One parsed annotation file: ``paths`` (I,) relative image paths, ``rows`` (F, 10) int64,
    ``image_of_row`` (F,) image index, ``lines`` (I,) 1-based line number of each path line."""

    paths: List[str]
    rows: np.ndarray
    image_of_row: np.ndarray
    lines: List[int]


def _ints(line: str, path, lineno: int, n: int) -> List[int]:
    parts = line.split()
    if len(parts) != n:
        raise AnnotationError(f"{path}:{lineno}: expected {n} integer fields, got {len(parts)}: {line.strip()!r}")
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise AnnotationError(f"{path}:{lineno}: non-integer field in {line.strip()!r}") from None


def parse_annotations(path) -> Split:
    """Parse a ``wider_face_*_bbx_gt.txt`` file; raises :class:`AnnotationError` naming file:line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"WIDER annotation file not found: {path}")
    lines = path.read_text().splitlines()
    paths, rows, owners, where = [], [], [], []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        name = lines[i].strip()
        if not name.lower().endswith((".jpg", ".jpeg", ".png")):
            raise AnnotationError(f"{path}:{i + 1}: expected an image path line, got {name!r}")
        if i + 1 >= len(lines):
            raise AnnotationError(f"{path}:{i + 2}: missing face count after {name!r}")
        (count,) = _ints(lines[i + 1], path, i + 2, 1)
        if count < 0:
            raise AnnotationError(f"{path}:{i + 2}: negative face count {count}")
        n_rows = max(count, 1)  # count 0 is followed by one dummy row of zeros
        if i + 2 + n_rows > len(lines):
            raise AnnotationError(f"{path}:{len(lines)}: file ends inside the {count} face rows of {name!r} (line {i + 1})")
        block = [_ints(lines[i + 2 + k], path, i + 3 + k, 10) for k in range(n_rows)]
        if count == 0 and any(block[0]):
            raise AnnotationError(f"{path}:{i + 3}: a zero-face image must be followed by a dummy row of zeros")
        paths.append(name)
        where.append(i + 1)
        if count:
            rows.extend(block)
            owners.extend([len(paths) - 1] * count)
        i += 2 + n_rows
    rows_a = np.asarray(rows, dtype=np.int64).reshape(-1, 10)
    return Split(paths, rows_a, np.asarray(owners, dtype=np.int64), where)


def image_sizes(files: Sequence[Path], annot, lines) -> np.ndarray:
    """(I, 2) width, height of each image, each decoded at reduced scale (JPEG DCT scaling, ``Image.draft``: a
    fraction of a full decode) so that a truncated or corrupt image is named here, not deep in a later training."""

    out = np.zeros((len(files), 2), dtype=np.int64)
    for k, f in enumerate(files):
        try:
            with Image.open(f) as im:
                out[k] = im.size
                im.draft("RGB", (max(1, im.size[0] // 8), max(1, im.size[1] // 8)))
                im.load()
        except FileNotFoundError:
            raise AnnotationError(f"{annot}:{lines[k]}: image not found: {f}") from None
        except (OSError, SyntaxError, ValueError) as e:  # PIL: UnidentifiedImageError, "image file is truncated"
            raise AnnotationError(f"{annot}:{lines[k]}: image {f} cannot be decoded ({e})") from None
    return out


def filter_faces(rows: np.ndarray, img: np.ndarray, sizes: np.ndarray, min_size: float, keep_invalid: bool):
    """Vectorised face filtering and clipping.

    rows: (F, 10) annotation rows; img: (F,) image index; sizes: (I, 2) width, height.
    Returns ``(keep (F,) bool, boxes (F, 4) float x1 y1 x2 y2 clipped, stats dict)``.
    """
    x1, y1 = rows[:, 0].astype(float), rows[:, 1].astype(float)
    x2, y2 = x1 + rows[:, 2], y1 + rows[:, 3]
    W, H = sizes[img, 0].astype(float), sizes[img, 1].astype(float)
    nonpos = (rows[:, 2] <= 0) | (rows[:, 3] <= 0)
    invalid = (rows[:, INVALID_COL] != 0) & ~nonpos & (not keep_invalid)
    cx1, cy1 = np.clip(x1, 0, W), np.clip(y1, 0, H)
    cx2, cy2 = np.clip(x2, 0, W), np.clip(y2, 0, H)
    live = ~nonpos & ~invalid
    outside = live & ((cx2 - cx1 <= 0) | (cy2 - cy1 <= 0))
    clipped = live & ~outside & ((cx1 != x1) | (cy1 != y1) | (cx2 != x2) | (cy2 != y2))
    small = live & ~outside & (np.minimum(cx2 - cx1, cy2 - cy1) < min_size)
    keep = live & ~outside & ~small
    stats = {"faces": len(rows), "kept": int(keep.sum()), "dropped_nonpositive_size": int(nonpos.sum()),
             "dropped_invalid": int(invalid.sum()), "dropped_outside_image": int(outside.sum()),
             "dropped_below_min_size": int(small.sum()), "clipped": int((clipped & keep).sum())}
    return keep, np.stack([cx1, cy1, cx2, cy2], 1), stats


def _link_or_copy(src: Path, dst: Path, copy: bool) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not copy:
        try:
            os.symlink(src, dst)
            return
        except OSError:
            pass  # no symlink support (e.g. some filesystems): copy instead
    shutil.copy2(src, dst)


def convert_split(root: Path, tmp: Path, split: str, min_size: float, keep_invalid: bool, copy: bool) -> dict:
    """Convert one split into ``tmp/images/<split>`` and ``tmp/labels/<split>``; returns stats."""
    annot = root / ANNOT.format(split)
    data = parse_annotations(annot)
    img_root = (root / IMAGES.format(split)).resolve()
    files = [img_root / p for p in data.paths]
    sizes = image_sizes(files, annot, data.lines)
    keep, b, stats = filter_faces(data.rows, data.image_of_row, sizes, min_size, keep_invalid)
    wh = sizes[data.image_of_row].astype(float)
    lab = np.stack([(b[:, 0] + b[:, 2]) / 2 / wh[:, 0], (b[:, 1] + b[:, 3]) / 2 / wh[:, 1],
                    (b[:, 2] - b[:, 0]) / wh[:, 0], (b[:, 3] - b[:, 1]) / wh[:, 1]], 1)[keep]
    owner = data.image_of_row[keep]
    bounds = np.searchsorted(owner, np.arange(len(files) + 1))  # rows are grouped by image
    for k, (rel, src) in enumerate(zip(data.paths, files)):
        rel_p = Path(rel)
        _link_or_copy(src, tmp / "images" / split / rel_p, copy)
        out = tmp / "labels" / split / rel_p.with_suffix(".txt")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join("0 %.6f %.6f %.6f %.6f\n" % tuple(r) for r in lab[bounds[k]:bounds[k + 1]]))
    stats.update(images=len(files), images_without_faces=int(np.sum(np.diff(bounds) == 0)))
    return stats


def convert(root, out, min_size: float = 0, keep_invalid: bool = False,
            splits: Tuple[str, ...] = ("train", "val"), copy: bool = False, force: bool = False) -> Path:
    """Convert the official WIDER FACE layout at ``root`` into a YOLO dataset at ``out``.

    Faces with w <= 0 or h <= 0 are dropped, boxes are clipped to the image, faces flagged
    invalid are dropped unless ``keep_invalid``, faces whose clipped width or height is below
    ``min_size`` pixels are dropped; a summary goes to stderr. The dataset is built in a temp
    directory and swapped in atomically. Returns the YAML path ``out/<out name>.yaml`` holding
    ``path``, the converted splits, ``names {0: face}`` and a ``widerface`` section with the
    absolute ``gt_dir`` (eval_tools/ground_truth) and ``val_images`` (original val image root).

    ``out`` must be new, empty, or (with ``force``) a previous output of ``convert`` (marker file); it must not be
    ``root``, inside it or above it (:func:`yolo_ext.utils.owned.check_output_dir`, raising ``OutputDirError``).
    """

    root, out = Path(root).resolve(), Path(out).resolve()
    check_output_dir(out, TOOL, force, source=root)
    return _convert(root, out, min_size, keep_invalid, splits, copy)


def _convert(root: Path, out: Path, min_size, keep_invalid, splits, copy) -> Path:
    """:func:`convert` without the output-folder checks (our own caches: ``ensure_synth_dataset``)."""
    summary = {}
    with atomic_dir(out) as tmp:
        write_marker(tmp, TOOL)
        for split in splits:
            summary[split] = convert_split(root, tmp, split, min_size, keep_invalid, copy)
        cfg = {"path": str(out)}
        cfg.update({s: f"images/{s}" for s in splits})
        cfg["names"] = {0: "face"}
        cfg["widerface"] = {"gt_dir": str(root / GT_DIR), "val_images": str(root / IMAGES.format("val"))}
        (tmp / f"{out.name}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    for split, st in summary.items():
        print(f"convert {split}: {st['images']} images ({st['images_without_faces']} without faces), "
              f"{st['faces']} faces -> {st['kept']} labels; dropped: {st['dropped_nonpositive_size']} w/h<=0, "
              f"{st['dropped_invalid']} invalid, {st['dropped_outside_image']} outside the image, "
              f"{st['dropped_below_min_size']} below {min_size} px; clipped: {st['clipped']}", file=sys.stderr)
    return out / f"{out.name}.yaml"
