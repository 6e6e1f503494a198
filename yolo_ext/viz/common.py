"""Shared plumbing of the figure tools: image and label I/O, letterboxing, model loading, layout, saving.

Geometry convention (same as ultralytics' validator with ``rect=False``): the image is letterboxed to a square
``imgsz`` x ``imgsz`` input with :class:`ultralytics.data.augment.LetterBox` (``auto=False, scaleup=True``: keep the
aspect ratio, scale up or down so the long side is ``imgsz``, pad the short side symmetrically with grey 114), and
YOLO labels are mapped into that input. Everything drawn is in input pixels.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image, UnidentifiedImageError
from ultralytics.data.augment import LetterBox
from ultralytics.data.utils import img2label_paths

from ..config.paths import resolve_model_cfg
from ..engine.model import AnchorDetectionModel, InferenceYOLO
from ..nn.head import AnchorDetect
from ..utils.files import atomic_path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


# --------------------------------------------------------------------------------------------- image and labels
def load_image(path: str | Path) -> np.ndarray:
    """RGB uint8 (h, w, 3) image; FileNotFoundError / ValueError naming the file."""

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image not found: {p}")
    try:
        with Image.open(p) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"image {p} cannot be decoded (corrupt or not an image: {e})") from e


def default_label_path(image: str | Path) -> Path:
    """ultralytics' convention: the last ``/images/`` directory becomes ``/labels/``, the suffix ``.txt``."""

    return Path(img2label_paths([str(image)])[0])


def read_labels(path: str | Path) -> np.ndarray:
    """YOLO detection labels -> float32 (n, 5) [class, cx, cy, w, h], coordinates normalised to the image.

    Blank lines are skipped. Raises FileNotFoundError naming the file, or ValueError naming file and line for a row
    without exactly 5 fields, a non-numeric or non-integer class, or coordinates outside [0, 1] / sizes <= 0.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"labels file not found: {p}")
    rows = []
    for n, line in enumerate(p.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5:
            raise ValueError(f"{p}:{n}: expected 5 fields 'class cx cy w h', got {len(fields)}: {line.strip()!r}")
        try:
            v = [float(f) for f in fields]
        except ValueError:
            raise ValueError(f"{p}:{n}: non-numeric field in {line.strip()!r}") from None
        if v[0] < 0 or v[0] != int(v[0]):
            raise ValueError(f"{p}:{n}: class must be a non-negative integer, got {fields[0]!r}")
        if not all(0.0 <= x <= 1.0 for x in v[1:]) or v[3] <= 0 or v[4] <= 0:
            raise ValueError(f"{p}:{n}: cx cy w h must be normalised to [0, 1] with w, h > 0, got {fields[1:]}")
        rows.append(v)
    return np.asarray(rows, dtype=np.float32).reshape(-1, 5)


def letterbox(img: np.ndarray, imgsz: int) -> Tuple[np.ndarray, dict]:
    """Letterbox ``img`` (h, w, 3) to (imgsz, imgsz, 3) as ultralytics' validator does (LetterBox auto=False, scaleup).

    Returns the image and ``{"ratio": r, "left": px, "top": px, "orig_shape": (h, w)}`` (image pixels -> input pixels:
    ``x * r + left``, ``y * r + top``).
    """

    lb = LetterBox(new_shape=(imgsz, imgsz), auto=False, scaleup=True, center=True)
    params = lb.get_params({"img": img})
    out = lb.apply_image({"img": img}, params)["img"]
    return out, {"ratio": float(params["ratio"][0]), "left": params["left"], "top": params["top"], "orig_shape": img.shape[:2]}


def letterbox_labels(labels: np.ndarray, lb: dict, imgsz: int) -> np.ndarray:
    """Map (n, 5) [class, cx, cy, w, h] normalised to the original image into the letterboxed ``imgsz`` input."""
    h, w = lb["orig_shape"]
    r = lb["ratio"]
    out = labels.astype(np.float32).copy()
    out[:, 1] = (labels[:, 1] * w * r + lb["left"]) / imgsz
    out[:, 2] = (labels[:, 2] * h * r + lb["top"]) / imgsz
    out[:, 3] = labels[:, 3] * w * r / imgsz
    out[:, 4] = labels[:, 4] * h * r / imgsz
    return out


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """RGB uint8 (h, w, 3) -> float32 (1, 3, h, w) in [0, 1] (ultralytics' input convention)."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div(255.0)[None]


# --------------------------------------------------------------------------------------------- models
def load_weights(path: str | Path):
    """Anchor model (eval, float32, CPU) from a checkpoint: an ultralytics ``.pt`` (``InferenceYOLO(path).model``).

    Accepts anything ``InferenceYOLO`` loads: a trainer checkpoint or a dict ``{"model": AnchorDetectionModel}``.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"weights file not found: {p}")
    try:
        model = InferenceYOLO(str(p)).model
    except Exception as e:  # unpickling errors come in many types; name the file
        raise ValueError(f"cannot load weights {p}: {type(e).__name__}: {e}") from e
    if not isinstance(model, torch.nn.Module) or not isinstance(getattr(model, "model", None), torch.nn.Sequential):
        raise ValueError(f"weights {p}: not a model checkpoint (.pt with a 'model' entry)")
    if not isinstance(model.model[-1], AnchorDetect):
        raise ValueError(f"weights {p}: head is {type(model.model[-1]).__name__}, not AnchorDetect (an anchor-free model?)")
    return model.float().eval()


def build_model(cfg: Optional[str] = None, weights: Optional[str] = None, seed: int = 0):
    """``(model, description)``: the model of ``weights`` if given, else a random-init model of ``cfg`` (seeded)."""
    if weights:
        return load_weights(weights), f"weights {Path(weights).name}"
    path = resolve_model_cfg(cfg or "yolov5n.yaml")
    torch.manual_seed(seed)
    return AnchorDetectionModel(str(path), verbose=False).float().eval(), f"random-init {path.name}"


def check_imgsz(imgsz: int, strides) -> int:
    """``imgsz`` must be a positive multiple of the largest stride (every level then tiles the input exactly)."""
    smax = int(max(float(s) for s in strides))
    if imgsz < smax or imgsz % smax:
        up = max(smax, -(-imgsz // smax) * smax)
        raise ValueError(f"--imgsz {imgsz} is not a multiple of the model's largest stride {smax}; use e.g. {up}")
    return imgsz


@torch.no_grad()
def run_model(model, img: np.ndarray) -> Tuple[torch.Tensor, List[torch.Tensor], List[torch.Tensor]]:
    """Forward one letterboxed RGB image (eval mode).

    Returns:
        y: (1, 4 + nc, N) boxes xywh input pixels + scores obj*cls (the stock NMS input).
        maps: per level raw logits (1, na, ny, nx, 5 + nc).
        boxes: per level decoded boxes (1, na, ny, nx, 4) xywh in input pixels (what assigners take as ``preds``).
    """
    head = model.model[-1]
    y, raw = model(to_tensor(img))
    maps = [m.float() for m in raw["preds"]]
    boxes = head.decode_boxes(maps)
    return y, maps, boxes


def level_name(stride: float) -> str:
    """'P3' for stride 8 (log2 of the stride), else 's12' for a stride that is not a power of two."""
    s = int(round(float(stride)))
    return f"P{s.bit_length() - 1}" if s > 0 and s & (s - 1) == 0 else f"s{s}"


# --------------------------------------------------------------------------------------------- figures
def new_figure(n_panels: int, panel_in: float, top_in: float, bottom_in: float, right_in: float = 0.0):
    """Figure with ``n_panels`` square image axes side by side, a title band of ``top_in`` inches and a legend
    band of ``bottom_in`` inches; size is exactly (n * panel_in + right_in, panel_in + top_in + bottom_in) inches.

    Returns ``(fig, axes)``. Fixed layout (no tight bbox), so the PNG size is ``round(size * dpi)`` pixels. A plain
    :class:`matplotlib.figure.Figure` (no pyplot state): no backend is selected, the caller's stays as it is.
    """

    W, H = n_panels * panel_in + right_in, panel_in + top_in + bottom_in
    fig = Figure(figsize=(W, H))
    pad = 0.04 * panel_in
    axes = []
    for k in range(n_panels):
        ax = fig.add_axes([(k * panel_in + pad) / W, (bottom_in + pad) / H, (panel_in - 2 * pad) / W, (panel_in - 2 * pad) / H])
        ax.set_axis_off()
        axes.append(ax)
    return fig, axes


def dimmed(img: np.ndarray, keep: float = 0.45) -> np.ndarray:
    """Light greyscale version of an RGB image (contrast ``keep`` towards white) for overlays; float (h, w, 3) in [0, 1]."""
    g = img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32) / 255.0
    g = 1.0 - keep * (1.0 - g)
    return np.repeat(g[..., None], 3, axis=2)


def _palette_png(fig, f, dpi: float):
    """Render ``fig`` and write it as a 256-colour (median cut) PNG: about 2-3x smaller, for docs and the web."""

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    buf.seek(0)
    with Image.open(buf) as im:
        im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(f, format="PNG", optimize=True)


def save_figure(fig, out: str | Path, dpi: float, palette: bool = False) -> Path:
    """Write the figure atomically (``yolo_ext.utils.files.atomic_path``); format from the suffix.

    ``palette=True`` (PNG only) stores 256 colours instead of RGBA."""
    out = Path(out)
    fmt = out.suffix.lstrip(".").lower() or "png"
    if palette and fmt != "png":
        raise ValueError(f"--palette applies to PNG output only, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, open(tmp, "xb") as f:
        _palette_png(fig, f, dpi) if palette else fig.savefig(f, format=fmt, dpi=dpi)
    return out
