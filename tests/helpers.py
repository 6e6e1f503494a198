"""Test helpers: a tiny generated detection dataset, and overfitting one fixed batch to check that a configuration
trains. (``tests/`` is on the test path, so every test module imports these as ``from helpers import ...``.)"""

import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import yaml
from PIL import Image
from ultralytics.utils import DEFAULT_CFG

from yolo_ext.engine import AnchorDetectionModel
from yolo_ext.config.paths import resolve_model_cfg
from yolo_ext.config.defaults import trainer_base_cfg

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


def fixed_batch(bs=2, n_per_image=4, seed=0, imgsz=64, nc=1):
    g = torch.Generator().manual_seed(seed)
    n = bs * n_per_image
    wh = torch.rand(n, 2, generator=g) * 0.35 + 0.08
    xy = wh / 2 + torch.rand(n, 2, generator=g) * (1 - wh)
    return {
        "img": torch.rand(bs, 3, imgsz, imgsz, generator=g),
        "batch_idx": torch.arange(bs).repeat_interleave(n_per_image).float(),
        "cls": torch.randint(0, nc, (n, 1), generator=g).float(),
        "bboxes": torch.cat((xy, wh), 1),
    }


def overfit(cfg="yolov5n-1a.yaml", steps=12, imgsz=64, nc=1, train_on=None, **overrides):
    """Overfit one fixed batch with Adam (lr 1e-3); model in train mode, ``model.args`` a namespace of the trainer's
    base cfg with ``overrides``; ``train_on`` (e.g. "obj_loss") back-propagates that component alone, else the total.
    Returns ``(model, batch, history)``; ``history[k]`` is step k's loss before its update:
    ``{"total": float, "box_loss": float, "obj_loss": float, "cls_loss": float}`` (components weighted, per image)."""
    torch.manual_seed(0)
    model = AnchorDetectionModel(str(resolve_model_cfg(cfg)), nc=nc, verbose=False)
    model.args = SimpleNamespace(**{**trainer_base_cfg(DEFAULT_CFG), "imgsz": imgsz, **overrides})
    batch = fixed_batch(imgsz=imgsz, nc=nc)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = []
    for _ in range(steps):
        loss, items = model.loss(batch)
        opt.zero_grad()
        (loss[list(items).index(train_on)] if train_on else loss.sum()).backward()
        opt.step()
        history.append({"total": float(loss.detach().sum()), **{k: float(v) for k, v in items.items()}})
    return model, batch, history


@torch.no_grad()
def randomise_bn(model, seed=0):
    """Non-trivial BatchNorm statistics and affine parameters everywhere (RepVGG tools/verify.py style)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            m.weight.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.copy_(torch.randn(n, generator=g) * 0.2)
    return model


def overfit_losses(cfg="yolov5n-1a.yaml", steps=12, imgsz=64, nc=1, **overrides):
    """Total loss per step while overfitting one batch (see ``overfit``)."""
    return [h["total"] for h in overfit(cfg, steps, imgsz, nc, None, **overrides)[2]]


@contextmanager
def foreign_backend(name: str = "svg"):
    """Select a non-Agg matplotlib backend as a caller of the library might, yield its name, restore the previous
    one after: a library call that switches backends shows up as ``matplotlib.get_backend() != name``."""
    import matplotlib

    before = matplotlib.get_backend()
    matplotlib.use(name, force=True)
    try:
        yield name
    finally:
        matplotlib.use(before, force=True)


# ------------------------------------------------------------------ scenes for the joint assigners' reference tests

JOINT_STRIDES = (8.0, 16.0, 32.0)
JOINT_HW = (128, 160)  # input H, W: grids (16, 20), (8, 10), (4, 5)
JOINT_ANCHORS = {1: [[[12.0, 15.0]], [[48.0, 60.0]], [[192.0, 240.0]]],
                 3: [[[10, 13], [16, 30], [33, 23]], [[30, 61], [62, 45], [59, 119]], [[116, 90], [156, 198], [373, 326]]]}


def joint_scene(kind: str, seed: int = 0, na: int = 1, bs: int = 2, nc: int = 2):
    """(targets (n, 6), anchors (3, na, 2), strides, shapes, preds, scores) for the reference tests of the joint
    assigners. kind: ``random`` (25 + 8 boxes), ``none`` (no targets), ``huge`` (one box covering the image),
    ``tiny700`` (700 faces of 2-7 px in image 0), ``ties`` (boxes centred on cell corners and exact duplicates)."""
    g = torch.Generator().manual_seed(seed)
    H, W = JOINT_HW
    if kind == "none":
        t = torch.zeros(0, 6)
    elif kind == "huge":
        t = torch.tensor([[0, 1, 0.5, 0.5, 0.98, 0.97]])
    elif kind == "tiny700":
        wh = torch.rand(700, 2, generator=g) * 5 + 2
        xy = torch.rand(700, 2, generator=g) * torch.tensor([W - 8, H - 8]) + 4
        t = torch.cat((torch.zeros(700, 1), torch.randint(0, nc, (700, 1), generator=g).float(),
                       (torch.cat((xy, wh), 1) / torch.tensor([W, H, W, H]))), 1)
    elif kind == "ties":
        xy = torch.tensor([[16.0, 16.0], [32.0, 48.0], [64.0, 64.0], [64.0, 64.0], [96.0, 32.0]])  # cell corners
        wh = torch.tensor([[16.0, 16.0], [24.0, 20.0], [30.0, 30.0], [30.0, 30.0], [8.0, 8.0]])  # rows 2 and 3 equal
        t = torch.cat((torch.tensor([[0.0], [0.0], [1.0], [1.0], [1.0]]), torch.zeros(5, 1),
                       torch.cat((xy, wh), 1) / torch.tensor([W, H, W, H])), 1)
    else:
        n = (25, 8)
        rows = []
        for b, k in enumerate(n[:bs]):
            wh = torch.rand(k, 2, generator=g) ** 2 * 0.6 + 0.02
            xy = wh / 2 + torch.rand(k, 2, generator=g) * (1 - wh)
            rows.append(torch.cat((torch.full((k, 1), float(b)), torch.randint(0, nc, (k, 1), generator=g).float(), xy, wh), 1))
        t = torch.cat(rows)
    anchors = torch.tensor(JOINT_ANCHORS[na], dtype=torch.float32)
    strides = torch.tensor(JOINT_STRIDES)
    shapes = [(H // int(s), W // int(s)) for s in JOINT_STRIDES]
    preds, scores = [], []
    px = t[:, 2:6] * torch.tensor([W, H, W, H])
    for (ny, nx), s, anc in zip(shapes, JOINT_STRIDES, anchors):
        gy, gx = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
        centre = (torch.stack((gx, gy), -1).float() + 0.5) * s
        p = torch.cat((centre.expand(bs, na, ny, nx, 2) + (torch.rand(bs, na, ny, nx, 2, generator=g) - 0.5) * s,
                       (torch.rand(bs, na, ny, nx, 2, generator=g) * 2 + 0.25) * anc.view(1, na, 1, 1, 2)), -1)
        if t.shape[0]:  # the cell holding each target centre predicts a jittered copy of it
            i = (px[:, 0] / s).long().clamp(0, nx - 1)
            j = (px[:, 1] / s).long().clamp(0, ny - 1)
            p[t[:, 0].long(), 0, j, i] = px * (1 + 0.2 * (torch.rand(px.shape, generator=g) - 0.5))
        preds.append(p)
        scores.append(torch.rand(bs, na, ny, nx, nc, generator=g) * 0.98 + 0.01)
    return t, anchors, strides, shapes, preds, scores


def level_multiset(out):
    """Sorted (level, image, anchor, row, column, target row) of every positive of an Assignment."""
    return sorted((k, *v) for k, lt in enumerate(out) for v in zip(*(x.tolist() for x in (lt.b, lt.a, lt.gj, lt.gi, lt.t))))


_HOLD = textwrap.dedent("""
    import sys, time
    from yolo_ext.utils.locks import DirLock
    lock = DirLock(sys.argv[1], "run directory")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
""")


def hold_in_child(d, seconds=60):
    """A live process holding the ``yolo_ext.utils.locks`` lock on folder ``d`` (another training, another sweep);
    returns its Popen once the lock is taken. Kill it when done."""
    p = subprocess.Popen([sys.executable, "-c", _HOLD, str(d), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "locked"
    return p
