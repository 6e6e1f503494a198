"""Test helpers: overfit one fixed batch to check that a configuration trains."""

from types import SimpleNamespace

import torch
from ultralytics.utils import DEFAULT_CFG

from yolo_ext.model import AnchorDetectionModel
from yolo_ext.paths import resolve_model_cfg
from yolo_ext.settings import trainer_base_cfg


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


def overfit_losses(cfg="yolov5n-1a.yaml", steps=12, imgsz=64, nc=1, **overrides):
    """Total loss per step while overfitting one batch with Adam (lr 1e-3); model in train mode."""
    torch.manual_seed(0)
    model = AnchorDetectionModel(str(resolve_model_cfg(cfg)), nc=nc, verbose=False)
    model.args = SimpleNamespace(**{**trainer_base_cfg(DEFAULT_CFG), "imgsz": imgsz, **overrides})
    batch = fixed_batch(imgsz=imgsz, nc=nc)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(steps):
        loss, _ = model.loss(batch)
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
        losses.append(float(loss.detach().sum()))
    return losses
