"""Loading the official WIDER FACE evaluation ground truth (``eval_tools/ground_truth/*.mat``).

The four files of the official MATLAB evaluation (Yang et al., "WIDER FACE: A Face Detection
Benchmark", CVPR 2016) are ``wider_face_val.mat`` (``event_list``, ``file_list``,
``face_bbx_list`` and six attribute label lists, each a 61x1 cell of per-image cells) and
``wider_{easy,medium,hard}_val.mat`` (the same plus ``gt_list``: for every image the 1-based
indices of the faces that setting evaluates).

Everything is flattened into per-face arrays plus per-image offsets so the evaluator can work on
the whole split at once, without Python loops over images.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
from scipy.io import loadmat
from scipy.io.matlab import MatReadError

from .matfile import Numeric, write_mat

SETTINGS = ("easy", "medium", "hard")
GT_FILE = "wider_face_val.mat"
SETTING_FILE = "wider_{}_val.mat"
ATTRIBUTES = ("blur", "expression", "illumination", "invalid", "occlusion", "pose")


@dataclass
class GroundTruth:
    """The val split, flattened in the official order (events, then images within an event).

    Attributes:
        events: (E,) event folder names, e.g. ``"0--Parade"``.
        images: (I,) ``(event, image_name)`` keys, image name without ``.jpg``.
        offsets: (I + 1,) int64; faces of image i are rows ``offsets[i]:offsets[i + 1]``.
        boxes: (F, 4) float64 ``x, y, w, h`` in pixels, exactly as stored (dummy ``0 0 0 0`` rows
            of face-less images and degenerate boxes included, as the official code sees them).
        evaluated: setting -> (F,) bool, True where the face index is in that setting's gt_list.
        counts: setting -> (I,) int64, ``len(gt_list)`` per image (the recall denominator).
        labels: attribute -> (F,) uint8 (blur, expression, illumination, invalid, occlusion, pose).
    """

    events: List[str]
    images: List[Tuple[str, str]]
    offsets: np.ndarray
    boxes: np.ndarray
    evaluated: Dict[str, np.ndarray] = field(default_factory=dict)
    counts: Dict[str, np.ndarray] = field(default_factory=dict)
    labels: Dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_faces_per_image(self) -> np.ndarray:
        """(I,) number of box rows per image."""
        return np.diff(self.offsets)


def _loadmat(path: Path, names) -> dict:
    """scipy.io.loadmat with errors that name the file."""

    if not path.is_file():
        raise FileNotFoundError(f"WIDER FACE ground truth file not found: {path}")
    try:
        data = loadmat(str(path), variable_names=list(names))
    except (ValueError, TypeError, OSError, zlib.error, IndexError, KeyError, MatReadError) as e:
        raise ValueError(f"{path}: not a readable MATLAB .mat file ({type(e).__name__}: {e})") from e
    missing = [n for n in names if n not in data]
    if missing:
        raise ValueError(f"{path}: missing variable(s) {missing} (is this a WIDER FACE ground truth file?)")
    return data


def _cell_str(x) -> str:
    """A MATLAB char array as loaded by scipy (``array(['name'])``) -> str."""
    x = np.asarray(x).ravel()
    return str(x[0]) if x.size else ""


def _per_image(cells, path: Path, name: str, n_events: int) -> List[np.ndarray]:
    """Flatten a 61x1 cell of Nx1 cells into a list of per-image arrays."""
    if cells.shape[0] != n_events:
        raise ValueError(f"{path}: {name} has {cells.shape[0]} events, expected {n_events}")
    return [np.asarray(c) for ev in cells[:, 0] for c in ev[:, 0]]


def load_ground_truth(gt_dir, settings=SETTINGS) -> GroundTruth:
    """Load ``wider_face_val.mat`` and the per-setting ``gt_list`` from ``gt_dir``.

    Raises ``FileNotFoundError`` / ``ValueError`` naming the offending file for a missing or
    corrupt .mat, or for a gt_list inconsistent with the boxes (index out of range).
    """
    gt_dir = Path(gt_dir)
    main = gt_dir / GT_FILE
    keys = ["event_list", "file_list", "face_bbx_list"] + [a + "_label_list" for a in ATTRIBUTES]
    m = _loadmat(main, keys)
    events = [_cell_str(e) for e in m["event_list"][:, 0]]
    n_ev = len(events)
    files = m["file_list"]
    if files.shape[0] != n_ev:
        raise ValueError(f"{main}: file_list has {files.shape[0]} events, event_list {n_ev}")
    images = [(ev, _cell_str(f)) for ev, cell in zip(events, files[:, 0]) for f in cell[:, 0]]
    boxes_l = _per_image(m["face_bbx_list"], main, "face_bbx_list", n_ev)
    if len(boxes_l) != len(images):
        raise ValueError(f"{main}: face_bbx_list has {len(boxes_l)} images, file_list {len(images)}")
    boxes_l = [b.reshape(-1, 4) if b.size else np.zeros((0, 4)) for b in boxes_l]
    counts = np.array([len(b) for b in boxes_l], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    boxes = np.concatenate(boxes_l).astype(np.float64) if boxes_l else np.zeros((0, 4))
    gt = GroundTruth(events, images, offsets, boxes)
    for a in ATTRIBUTES:
        lab = _per_image(m[a + "_label_list"], main, a + "_label_list", n_ev)
        flat = np.concatenate([np.asarray(x).ravel() for x in lab]) if lab else np.zeros(0)
        if flat.size == boxes.shape[0]:
            gt.labels[a] = flat.astype(np.uint8)
    for s in settings:
        path = gt_dir / SETTING_FILE.format(s)
        lists = _per_image(_loadmat(path, ["gt_list"])["gt_list"], path, "gt_list", n_ev)
        if len(lists) != len(images):
            raise ValueError(f"{path}: gt_list has {len(lists)} images, expected {len(images)}")
        gt.evaluated[s], gt.counts[s] = _setting_mask(lists, offsets, counts, path)
    return gt


def _setting_mask(lists, offsets, counts, path):
    """gt_list cells -> ((F,) bool evaluated mask, (I,) int64 len(gt_list) per image)."""
    lens = np.array([x.size for x in lists], dtype=np.int64)
    idx = np.concatenate([np.asarray(x, dtype=np.int64).ravel() for x in lists]) if lists else np.zeros(0, np.int64)
    img = np.repeat(np.arange(len(lists)), lens)
    bad = (idx < 1) | (idx > counts[img])
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{path}: gt_list of image #{int(img[j]) + 1} holds index {int(idx[j])}, "
                         f"but that image has {int(counts[img[j]])} boxes")
    mask = np.zeros(int(offsets[-1]), dtype=bool)
    mask[offsets[img] + idx - 1] = True
    return mask, lens


def _gt_list_cell(idx: np.ndarray, n_faces: int):
    """1-based indices -> the MATLAB value the official files hold: a double column whose storage
    MATLAB compacted to uint8 (uint16 above 255); ``find`` on a single face gives a 0x0 empty."""

    if idx.size == 0:
        return Numeric(np.zeros((0, 0) if n_faces == 1 else (0, 1), np.uint8), "double")
    dtype = np.uint8 if idx.max() <= 255 else np.uint16
    return Numeric(idx.astype(dtype).reshape(-1, 1), "double")


def save_ground_truth(gt: GroundTruth, gt_dir) -> Path:
    """Write ``gt`` as the four official files (inverse of :func:`load_ground_truth`).

    Same keys, cell nesting (61x1-style event cells of Nx1 image cells), MATLAB classes and
    storage types as the real files: boxes int32 (n, 4), labels uint8 (n, 1), gt_list double
    stored as uint8/uint16 (k, 1), event/file names 1xN char. Byte-deterministic.
    """

    gt_dir = Path(gt_dir)
    by_event = {e: [] for e in gt.events}
    for i, (event, _) in enumerate(gt.images):
        by_event[event].append(i)
    n = gt.num_faces_per_image

    def cells(fn):
        return [[fn(i) for i in by_event[e]] for e in gt.events]

    base = {}
    for a in sorted(ATTRIBUTES):  # the official files list variables alphabetically
        lab = gt.labels.get(a, np.zeros(len(gt.boxes), np.uint8))
        base[a + "_label_list"] = cells(lambda i: Numeric(lab[gt.offsets[i]:gt.offsets[i + 1]].astype(np.uint8).reshape(-1, 1)))
    base["event_list"] = list(gt.events)
    base["face_bbx_list"] = cells(lambda i: Numeric(gt.boxes[gt.offsets[i]:gt.offsets[i + 1]].astype(np.int32).reshape(-1, 4)))
    base["file_list"] = cells(lambda i: gt.images[i][1])
    order = ["blur_label_list", "event_list", "expression_label_list", "face_bbx_list", "file_list",
             "illumination_label_list", "invalid_label_list", "occlusion_label_list", "pose_label_list"]
    write_mat(gt_dir / GT_FILE, {k: base[k] for k in order})
    for s, mask in gt.evaluated.items():
        lists = cells(lambda i: _gt_list_cell(np.flatnonzero(mask[gt.offsets[i]:gt.offsets[i + 1]]) + 1, int(n[i])))
        variables = {k: base[k] for k in order[:5]}
        variables["gt_list"] = lists
        variables.update({k: base[k] for k in order[5:]})
        write_mat(gt_dir / SETTING_FILE.format(s), variables)
    return gt_dir
