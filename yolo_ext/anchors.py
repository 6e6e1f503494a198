"""Anchor analysis: best possible recall of a model's anchors on a dataset, level spacing, and anchor fitting.

    python -m yolo_ext.anchors --data DATA --cfg MODEL [--imgsz N] [--anchor-t T] [--evolve --out NEW.yaml]

Metric (YOLOv5 autoanchor, Jocher et al., ultralytics/yolov5 ``utils/autoanchor.py::check_anchors``):
label sizes ``wh`` (n, 2) in input pixels against anchors ``k`` (K, 2) in input pixels:
``r = wh / k``; ``x = min(r, 1/r)`` minimised over w and h, (n, K); ``best = max_k x``;
**BPR** (best possible recall) = ``mean(best > 1 / anchor_t)``: the share of labels that at least one anchor can
be assigned to by the ratio test; **AAT** (anchors above threshold) = mean number of anchors per label passing it.

Label sizes: each image's normalised labels are scaled so its longest side is ``imgsz`` (letterbox at training
size), then, as YOLOv5 does to mimic scale augmentation, by one random factor per image in ``1 +- jitter``
(default 0.1, fixed seed; ``jitter=0`` gives the exact letterboxed sizes).

Level spacing: ``adjacent_ratios`` is, for each pair of adjacent levels and each anchor index j,
``min(w[l+1, j] / w[l, j], h[l+1, j] / h[l, j])``. The face model wants every ratio >= ``anchor_t``, so that the
ratio test matches a label on at most two adjacent levels; a YAML that violates it gets a warning.

The same check runs at training start through ``trainer_anchor_check`` (warns below BPR 0.98; never edits anchors).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

BPR_WARN = 0.98  # YOLOv5's threshold for recommending new anchors


def label_wh(labels, imgsz: int, jitter: float = 0.1, seed: int = 0) -> np.ndarray:
    """Label sizes in input pixels from ultralytics dataset labels.

    Args:
        labels: list of dicts with ``bboxes`` (m, 4) normalised xywh and ``shape`` (h, w) in pixels.
        imgsz: training size (longest image side after letterbox), pixels.
        jitter: per-image random scale in ``[1 - jitter, 1 + jitter]`` (0 disables).
        seed: seed of that random scale.
    Returns:
        (n, 2) float64 w,h in pixels, n = total number of labels.
    """
    if not labels:
        return np.zeros((0, 2))
    shapes = np.array([lb["shape"] for lb in labels], np.float64)  # (N, 2) h, w
    if shapes.ndim != 2 or shapes.shape[1] != 2 or (shapes <= 0).any():
        raise ValueError(f"dataset labels need a positive 'shape' (h, w) per image, got e.g. {labels[0].get('shape')!r}")
    counts = np.array([len(lb["bboxes"]) for lb in labels])
    scale = imgsz / shapes.max(1, keepdims=True) * shapes[:, ::-1]  # (N, 2) px per unit of normalised w, h
    if jitter:
        scale = scale * np.random.default_rng(seed).uniform(1 - jitter, 1 + jitter, (len(labels), 1))
    boxes = np.concatenate([np.asarray(lb["bboxes"], np.float64).reshape(-1, 4) for lb in labels])
    return boxes[:, 2:4] * np.repeat(scale, counts, axis=0)


def anchors_of(model_or_anchors) -> np.ndarray:
    """(nl, na, 2) anchors in pixels from a model (possibly DDP-wrapped), an ``AnchorDetect`` head, or an array."""
    m = getattr(model_or_anchors, "module", model_or_anchors)  # DDP / DataParallel
    if isinstance(m, torch.nn.Module):
        head = m.model[-1] if hasattr(m, "model") and isinstance(m.model, torch.nn.Sequential) else m
        if not hasattr(head, "anchor_px"):
            raise ValueError(f"{type(m).__name__} has no AnchorDetect head (anchor_px): not an anchor-based model")
        return head.anchor_px.detach().cpu().double().numpy()
    a = np.asarray(model_or_anchors.cpu() if torch.is_tensor(model_or_anchors) else model_or_anchors, np.float64)
    if a.ndim != 3 or a.shape[-1] != 2 or (a <= 0).any():
        raise ValueError(f"anchors must be positive with shape (nl, na, 2), got shape {a.shape}")
    return a


def adjacent_ratios(anchors) -> np.ndarray:
    """(nl, na, 2) anchors -> (nl - 1, na): ``min(w[l+1, j] / w[l, j], h[l+1, j] / h[l, j])``."""
    a = np.asarray(anchors, np.float64)
    return (a[1:] / a[:-1]).min(-1)


def metrics(wh: np.ndarray, anchors) -> dict:
    """Ratio metric of (nl, na, 2) anchors (pixels) on (n, 2) label sizes (pixels); K = nl * na.

    Returns a dict: ``best`` (n,) best ratio per label, ``x`` (n, K) ratio per label and anchor."""
    k = np.asarray(anchors, np.float64).reshape(-1, 2)
    r = np.asarray(wh, np.float64)[:, None, :] / k[None]  # (n, K, 2)
    with np.errstate(divide="ignore"):
        x = np.minimum(r, 1.0 / r).min(-1)  # (n, K)
    return {"x": x, "best": x.max(1) if len(x) else np.zeros(0)}


def check_anchors(labels_or_wh, model_or_anchors, anchor_t: float = 4.0, imgsz: int = 640,
                  jitter: float = 0.1, seed: int = 0) -> dict:
    """Anchor check of a model against a dataset.

    Args:
        labels_or_wh: ultralytics dataset labels (list of dicts, see ``label_wh``) or an (n, 2) array of label w,h
            in input pixels (used as is: no scaling, no jitter).
        model_or_anchors: model / head / (nl, na, 2) anchors in input pixels.
        anchor_t: ratio threshold of the assigner (> 1).
        imgsz: training size, pixels (for labels given as dicts).
        jitter, seed: YOLOv5's per-image random scale, see ``label_wh``.
    Returns:
        dict: ``bpr``, ``aat``, ``fitness`` (floats), ``n`` (labels), ``anchors`` (nl, na, 2), ``ratios``
        (nl - 1, na), ``warnings`` (list of str; empty when all is well).
    """
    if not float(anchor_t) > 1:
        raise ValueError(f"anchor_t must be > 1, got {anchor_t!r}")
    a = anchors_of(model_or_anchors)
    if torch.is_tensor(labels_or_wh):
        labels_or_wh = labels_or_wh.detach().cpu().numpy()
    wh = labels_or_wh if isinstance(labels_or_wh, np.ndarray) else label_wh(labels_or_wh, imgsz, jitter, seed)
    wh = np.asarray(wh, np.float64).reshape(-1, 2)
    thr = 1.0 / anchor_t
    m = metrics(wh, a)
    bpr = float((m["best"] > thr).mean()) if len(wh) else float("nan")
    aat = float((m["x"] > thr).sum(1).mean()) if len(wh) else float("nan")
    fit = float((m["best"] * (m["best"] > thr)).mean()) if len(wh) else float("nan")
    ratios = adjacent_ratios(a)
    warnings = []
    if not len(wh):
        warnings.append("no labels: anchors not checked")
    elif bpr < BPR_WARN:
        warnings.append(
            f"best possible recall {bpr:.4f} < {BPR_WARN} at anchor_t={anchor_t:g}, imgsz={imgsz}: "
            f"{int(round((1 - bpr) * len(wh)))} of {len(wh)} labels match no anchor; consider "
            f"`python -m yolo_ext.anchors --evolve` or another anchor_t"
        )
    bad = np.argwhere(ratios < anchor_t * (1 - 1e-6))
    if len(bad):
        pairs = ", ".join(f"P{l + 3}->P{l + 4} anchor {j}: {ratios[l, j]:.2f}" for l, j in bad)
        warnings.append(
            f"adjacent anchor levels closer than anchor_t={anchor_t:g} ({pairs}); each level's anchor should be "
            f">= anchor_t x the previous level's, so a label matches at most two adjacent levels"
        )
    return {"bpr": bpr, "aat": aat, "fitness": fit, "n": len(wh), "anchors": a, "ratios": ratios, "warnings": warnings}


def format_report(res: dict, anchor_t: float, prefix: str = "anchors: ") -> str:
    """One-paragraph human summary of a ``check_anchors`` result."""
    a = res["anchors"]
    lv = "  ".join(f"P{i + 3}[" + ", ".join(f"{w:g}x{h:g}" for w, h in np.round(x, 1)) + "]" for i, x in enumerate(a))
    rat = "  ".join(f"P{i + 3}->P{i + 4}: " + ", ".join(f"{v:.2f}" for v in r) for i, r in enumerate(res["ratios"]))
    s = (f"{prefix}{res['n']} labels, anchor_t={anchor_t:g}: best possible recall {res['bpr']:.4f}, "
         f"anchors above threshold {res['aat']:.2f}, fitness {res['fitness']:.4f}\n"
         f"{prefix}{lv}\n{prefix}level ratios {rat or '(single level)'}")
    return s + "".join(f"\n{prefix}WARNING {w}" for w in res["warnings"])


def trainer_anchor_check(trainer) -> dict | None:
    """``on_pretrain_routine_end`` callback: check the model's anchors against the training labels and log/warn.

    Reads ``trainer.train_loader.dataset.labels``, the (unwrapped) model's ``model[-1].anchor_px`` and
    ``trainer.args.anchor_t`` / ``trainer.args.imgsz``. Never modifies the anchors. Returns the result (rank 0).
    """
    from ultralytics.utils import LOGGER, RANK

    if RANK not in {-1, 0}:
        return None
    ds = getattr(getattr(trainer, "train_loader", None), "dataset", None)
    labels = getattr(ds, "labels", None)
    if labels is None:
        LOGGER.warning("anchors: the training dataset exposes no labels; anchor check skipped")
        return None
    anchor_t = float(getattr(trainer.args, "anchor_t", 4.0))
    res = check_anchors(labels, trainer.model, anchor_t=anchor_t, imgsz=int(trainer.args.imgsz))
    LOGGER.info(format_report({**res, "warnings": []}, anchor_t))
    for w in res["warnings"]:
        LOGGER.warning(f"anchors: {w}")
    return res


# ---------------------------------------------------------------------------------------------------- CLI
def load_dataset_labels(data: str, split: str = "train", imgsz: int = 640) -> list[dict]:
    """Labels of one split of an ultralytics dataset YAML (or 'synth'), as ``YOLODataset.labels``."""
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import check_det_dataset
    from ultralytics.utils import DEFAULT_CFG

    from .cli import resolve_data

    d = check_det_dataset(resolve_data(data), autodownload=False)
    if split not in d:
        raise SystemExit(f"--data {data}: no '{split}' split (have {', '.join(k for k in ('train', 'val', 'test') if d.get(k))})")
    ds = YOLODataset(img_path=d[split], imgsz=imgsz, augment=False, hyp=DEFAULT_CFG, data=d, task="detect")
    return ds.labels


def _load_cfg(cfg: str):
    """(model, YAML text or None, anchor_t or None) from a model YAML or a checkpoint."""
    import yaml

    from .model import AnchorDetectionModel
    from .paths import resolve_model_cfg

    if str(cfg).endswith(".pt"):
        ckpt = torch.load(cfg, map_location="cpu", weights_only=False)
        model = (ckpt.get("ema") or ckpt["model"]).float()
        t = (ckpt.get("train_args") or {}).get("anchor_t")
        return model, yaml.safe_dump(model.yaml, sort_keys=False), t
    path = resolve_model_cfg(cfg)
    text = path.read_text()
    t = (yaml.safe_load(text) or {}).get("anchor_t")
    return AnchorDetectionModel(str(path), verbose=False), text, t


def main(argv=None) -> dict:
    from .settings import ext_defaults

    ap = argparse.ArgumentParser(prog="python -m yolo_ext.anchors", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="dataset YAML, or 'synth'")
    ap.add_argument("--cfg", required=True, help="model YAML (path or name in models/) or checkpoint .pt")
    ap.add_argument("--imgsz", type=int, default=640, help="training size (longest side), pixels")
    ap.add_argument("--anchor-t", type=float, default=None,
                    help="ratio threshold; default: the checkpoint's / YAML's anchor_t, else the hyp default")
    ap.add_argument("--split", default="train", help="dataset split to analyse")
    ap.add_argument("--jitter", type=float, default=0.1, help="per-image random label scale 1 +- jitter (YOLOv5)")
    ap.add_argument("--evolve", action="store_true", help="fit anchors (k-means + genetic refinement)")
    ap.add_argument("--generations", type=int, default=300, help="refinement generations (x population 16)")
    ap.add_argument("--keep-ratio", action="store_true", help="with --evolve: keep adjacent level ratios >= anchor_t")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="with --evolve: model YAML to write with the fitted anchors")
    a = ap.parse_args(argv)
    if a.evolve and not a.out:
        ap.error("--evolve needs --out NEW.yaml")
    model, text, t = _load_cfg(a.cfg)
    anchor_t = a.anchor_t or t or float(ext_defaults()["anchor_t"])
    wh = label_wh(load_dataset_labels(a.data, a.split, a.imgsz), a.imgsz, a.jitter, a.seed)
    res = check_anchors(wh, model, anchor_t, a.imgsz)
    print(format_report(res, anchor_t, prefix=f"{Path(a.cfg).name}: "))
    if not a.evolve:
        return res
    from .anchors_evolve import evolve_anchors, write_model_yaml

    ev = evolve_anchors(wh, res["anchors"], anchor_t, generations=a.generations, seed=a.seed,
                        min_ratio=anchor_t if a.keep_ratio else None)
    new = check_anchors(wh, ev["anchors"], anchor_t, a.imgsz)
    print(f"evolve: fitness {ev['fitness_before']:.4f} -> {ev['fitness_after']:.4f}"
          f"{'' if ev['changed'] else ' (no fitter anchors found; keeping the input anchors)'}")
    print(format_report(new, anchor_t, prefix="evolved: "))
    out = write_model_yaml(text, ev["anchors"], a.out, strides=model.stride.tolist())
    print(f"evolve: wrote {out}")
    return {**res, "evolved": new, **ev, "out": str(out)}


if __name__ == "__main__":
    import yolo_ext  # noqa: F401  (offline mode + patches)

    main()
