"""Detections in the official WIDER FACE submission layout: reading (fast) and writing (atomic).

Layout (official ``eval_tools/read_pred.m``): ``OUT/<event>/<image_name>.txt`` holding the image
name line, a count line, then ``count`` rows ``x y w h score`` (pixels, top-left corner, width,
height). Everything here is aligned with a :class:`GroundTruth`: detections of all images are
concatenated in ground-truth order, ``offsets`` marks where each image starts, and every image's
rows are sorted by score, highest first, with a stable sort (MATLAB ``sort(..., 'descend')``).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Dict, List, Mapping, Tuple

import numpy as np

from ..utils.files import atomic_dir
from .groundtruth import GroundTruth

PredMapping = Mapping[Tuple[str, str], np.ndarray]
# Largest magnitude accepted for a coordinate (pixels) or a score: no image is a million pixels wide, and one score
# beyond it would squash every other score of the split into one threshold bin of the min-max normalisation.
MAX_ABS = 1e6
FIELDS = ("x", "y", "w", "h", "score")


class PredictionFormatError(ValueError):
    """A prediction file that does not follow the official layout (message names file and line)."""


def _parse_count(line: bytes, path) -> int:
    text = line.strip().decode("utf-8", "replace")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value.is_integer() or value < 0:
        raise PredictionFormatError(f"{path}:2: expected the number of detections, got {text!r}")
    return int(value)


def _parse_slow(body: bytes, count: int, path) -> np.ndarray:
    """Line-by-line parse of the rows after the count line; pinpoints the bad line on error.

    Rows may carry extra fields (the official reader uses the first five); blank lines are skipped.
    """
    rows = []
    for lineno, line in enumerate(body.splitlines(), start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 5:
            raise PredictionFormatError(
                f"{path}:{lineno}: expected 5 fields 'x y w h score', got {len(parts)}: {line.decode('utf-8', 'replace')!r}")
        try:
            rows.append([float(p) for p in parts[:5]])
        except ValueError:
            raise PredictionFormatError(
                f"{path}:{lineno}: non-numeric field in {line.decode('utf-8', 'replace')!r}") from None
        bad = _bad_field(rows[-1])
        if bad:
            raise PredictionFormatError(f"{path}:{lineno}: {bad} in {line.decode('utf-8', 'replace').strip()!r}")
    if len(rows) != count:
        raise PredictionFormatError(f"{path}: the count line says {count} detections, found {len(rows)} rows")
    return np.asarray(rows, dtype=np.float64).reshape(-1, 5)


def _bad_field(row) -> str:
    """'' for a row of finite values within +-MAX_ABS, else what is wrong with its first bad field."""
    for name, v in zip(FIELDS, row):
        if not np.isfinite(v):
            return f"{name} is {v} (not a finite number)"
        if abs(v) > MAX_ABS:
            return f"{name} is {v:g} (beyond +-{MAX_ABS:g}: not a pixel coordinate or a detection score)"
    return ""


def _all_valid(a: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(a)) and np.all(np.abs(a) <= MAX_ABS))


def _split_file(data: bytes, path):
    """-> (count, body) of one file's bytes."""
    parts = data.split(b"\n", 2)
    if len(parts) < 2 or not parts[1].strip():
        raise PredictionFormatError(f"{path}: expected a name line and a count line, the file has fewer lines")
    return _parse_count(parts[1], path), (parts[2] if len(parts) > 2 else b"")


def read_prediction_dir(pred_dir, gt: GroundTruth):
    """Read ``pred_dir/<event>/<image>.txt`` for every ground-truth image.

    Returns ``(dets, counts, n_missing)``: ``dets`` (D, 5) float64 ``x y w h score`` in
    ground-truth image order, NOT yet sorted; ``counts`` (I,) int64 rows per image; ``n_missing``
    the number of images without a file (they get no detections).
    Files are parsed in bulk: the per-file work is one read and a token split; all numbers are
    converted in one numpy call. A file whose shape is unusual falls back to a line-by-line parse
    that names the offending line.
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise FileNotFoundError(f"prediction directory not found: {pred_dir}")
    tokens: List[bytes] = []
    counts = np.zeros(len(gt.images), dtype=np.int64)
    slow: Dict[int, np.ndarray] = {}
    n_missing = 0
    base = str(pred_dir)
    for i, (event, name) in enumerate(gt.images):
        path = os.path.join(base, event, name + ".txt")
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            n_missing += 1
            continue
        count, body = _split_file(data, path)
        toks = body.split()
        if len(toks) == 5 * count and (count == 0 or body.strip().count(b"\n") == count - 1):
            tokens.extend(toks)
        else:
            slow[i] = _parse_slow(body, count, path)
        counts[i] = count
    if n_missing and n_missing == len(gt.images):
        raise FileNotFoundError(_nothing_matches(pred_dir, gt))
    try:
        flat = np.array(tokens, dtype=np.bytes_).astype(np.float64) if tokens else np.zeros(0)
        if not _all_valid(flat):  # nan / inf / absurd values: name the file and line
            raise ValueError
    except ValueError:
        _locate_bad_token(pred_dir, gt, counts, slow)
        raise
    return _merge(flat.reshape(-1, 5), counts, slow), counts, n_missing


def _nothing_matches(pred_dir: Path, gt: GroundTruth) -> str:
    """The error for a prediction folder holding no file of any ground-truth image (e.g. one level too high)."""
    event, name = gt.images[0]
    msg = (f"--pred {pred_dir}: none of the {len(gt.images)} ground-truth images has a prediction file (expected "
           f"{pred_dir / event / (name + '.txt')}, the official <event>/<image>.txt layout)")
    events = set(gt.events)
    inner = [d for d in sorted(pred_dir.iterdir()) if d.is_dir() and events & {c.name for c in d.iterdir()}]
    if inner:
        msg += f"; {inner[0]} holds event folders: pass --pred {inner[0]}"
    return msg


def _locate_bad_token(pred_dir, gt, counts, slow):
    """Re-parse the fast-path files line by line so the error names file and line."""
    for i, (event, name) in enumerate(gt.images):
        path = os.path.join(str(pred_dir), event, name + ".txt")
        if i in slow or not os.path.isfile(path):
            continue
        with open(path, "rb") as fh:
            count, body = _split_file(fh.read(), path)
        _parse_slow(body, count, path)


def _merge(fast: np.ndarray, counts: np.ndarray, slow: Dict[int, np.ndarray]) -> np.ndarray:
    """Interleave the bulk-parsed rows with the few line-by-line parsed files, in image order."""
    if not slow:
        return fast
    out = np.empty((int(counts.sum()), 5), dtype=np.float64)
    starts = np.concatenate([[0], np.cumsum(counts)])
    is_slow = np.zeros(len(counts), dtype=bool)
    is_slow[list(slow)] = True
    fast_rows = np.repeat(~is_slow, counts)
    out[fast_rows] = fast
    for i, arr in slow.items():
        out[starts[i]:starts[i + 1]] = arr
    return out


def from_mapping(pred: PredMapping, gt: GroundTruth):
    """In-memory ``{(event, image_name): (n, 5) x y w h score}`` -> ``(dets, counts, n_missing)``.

    Same contract as :func:`read_prediction_dir`; keys that are not ground-truth images are
    ignored, like files the official reader never opens.
    """
    arrays, counts, n_missing = [], np.zeros(len(gt.images), dtype=np.int64), 0
    for i, key in enumerate(gt.images):
        a = pred.get(key)
        if a is None:
            n_missing += 1
            continue
        a = np.asarray(a, dtype=np.float64)
        if a.size == 0:
            continue
        if a.ndim != 2 or a.shape[1] < 5:
            raise ValueError(f"predictions for {key[0]}/{key[1]}: expected an (n, 5) array x y w h score, got shape {a.shape}")
        if not _all_valid(a[:, :5]):
            ok = np.isfinite(a[:, :5]) & (np.abs(a[:, :5]) <= MAX_ABS)
            k = int(np.flatnonzero(~ok.all(1))[0])
            raise ValueError(f"predictions for {key[0]}/{key[1]}, row {k}: {_bad_field(a[k, :5])}")
        arrays.append(a[:, :5])
        counts[i] = a.shape[0]
    dets = np.concatenate(arrays) if arrays else np.zeros((0, 5))
    return dets, counts, n_missing


def warn_missing(n_missing: int, n_images: int, source) -> None:
    """The one warning about images without predictions (they count as no detections)."""
    if n_missing:
        warnings.warn(f"{n_missing} of {n_images} images have no prediction file in {source}; "
                      "they count as images without detections", stacklevel=3)


def sort_by_score(dets: np.ndarray, counts: np.ndarray):
    """Stable per-image sort by score, highest first. Returns ``(dets_sorted, image_of_det)``."""
    img = np.repeat(np.arange(len(counts)), counts)
    order = np.lexsort((-dets[:, 4], img))  # lexsort is stable: equal scores keep file order
    return dets[order], img


def _format_rows(a: np.ndarray) -> str:
    if a.size == 0:
        return ""
    return "\n".join(" ".join(repr(float(v)) for v in row) for row in a[:, :5]) + "\n"


def write_predictions(pred: PredMapping, out_dir) -> Path:
    """Write ``{(event, image_name): (n, 5) x y w h score}`` in the official layout.

    The tree is built in a temporary sibling directory and swapped into place with
    ``os.replace``, so readers never see a half-written result; an existing ``out_dir`` is
    replaced as a whole. Rows are written sorted by score (highest first) with full float
    precision (``repr``), so reading them back is exact.
    """
    out_dir = Path(out_dir).resolve()
    with atomic_dir(out_dir) as tmp:
        for (event, name), a in pred.items():
            a = np.asarray(a, dtype=np.float64).reshape(-1, 5) if np.size(a) else np.zeros((0, 5))
            a = a[np.argsort(-a[:, 4], kind="stable")]
            (tmp / event).mkdir(exist_ok=True)
            with open(tmp / event / f"{name}.txt", "w") as fh:
                fh.write(f"{name}\n{len(a)}\n{_format_rows(a)}")
    return out_dir
