"""Benchmark: vectorised official WIDER FACE evaluation vs a straightforward per-image loop.

Generates the shared seed-0 detection set (3,226 files) into a temp dir, times
``yolo_ext.widerface.evaluate`` (median of several runs; ground-truth loading and file reading
included), prints the APs against the reference values, then times a per-image loop evaluator
(written here, in the style of the popular Python port: per image, per detection, per threshold)
on a subset of images and extrapolates linearly to the full split.

    python bench/bench_wider_eval.py [--runs 5] [--subset 400]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from yolo_ext.widerface import GroundTruth, evaluate, load_ground_truth  # noqa: E402
from yolo_ext.widerface.reference import REFERENCE_AP_SEED0, find_shared_widerface, make_reference_predictions  # noqa: E402


def loop_evaluate(pred_dir: Path, gt: GroundTruth, iou: float = 0.5) -> dict:
    """Per-image loop evaluator (baseline): read each file, then for every setting and image loop
    over detections (vector IoU against the image's faces) and over the 1000 thresholds."""
    preds = []
    for event, name in gt.images:
        p = pred_dir / event / f"{name}.txt"
        if not p.is_file():
            preds.append(np.zeros((0, 5)))
            continue
        lines = p.read_text().splitlines()[2:]
        a = np.array([[float(v) for v in ln.split()[:5]] for ln in lines if ln.strip()]).reshape(-1, 5)
        preds.append(a[np.argsort(-a[:, 4], kind="stable")])
    scores = np.concatenate([p[:, 4] for p in preds])
    lo, hi = scores.min(), scores.max()
    aps = {}
    for s in gt.evaluated:
        pr, count_face = np.zeros((1000, 2)), 0
        for i, pred in enumerate(preds):
            g = gt.boxes[gt.offsets[i]:gt.offsets[i + 1]]
            keep = np.flatnonzero(gt.evaluated[s][gt.offsets[i]:gt.offsets[i + 1]])
            count_face += len(keep)
            if len(g) == 0 or len(pred) == 0:
                continue
            sc = (pred[:, 4] - lo) / (hi - lo)
            gx2, gy2 = g[:, 0] + g[:, 2], g[:, 1] + g[:, 3]
            recall_list, proposal, pred_recall = np.zeros(len(g)), np.ones(len(pred)), np.zeros(len(pred))
            ignore = np.zeros(len(g))
            ignore[keep] = 1
            garea = (gx2 - g[:, 0] + 1) * (gy2 - g[:, 1] + 1)
            for h, b in enumerate(pred):
                bx2, by2 = b[0] + b[2], b[1] + b[3]  # official: areas from x2 - x1 + 1, not w + 1
                w = np.minimum(gx2, bx2) - np.maximum(g[:, 0], b[0]) + 1
                hh = np.minimum(gy2, by2) - np.maximum(g[:, 1], b[1]) + 1
                inter = w * hh
                with np.errstate(divide="ignore", invalid="ignore"):
                    o = inter / (garea + (bx2 - b[0] + 1) * (by2 - b[1] + 1) - inter)
                o[(w <= 0) | (hh <= 0)] = 0
                j = int(np.argmax(o))
                if o[j] >= iou:
                    if ignore[j] == 0:
                        recall_list[j], proposal[h] = -1, -1
                    elif recall_list[j] == 0:
                        recall_list[j] = 1
                pred_recall[h] = np.sum(recall_list == 1)
            for t in range(1000):
                r = np.flatnonzero(sc >= 1 - (t + 1) / 1000)
                if len(r):
                    pr[t] += [np.sum(proposal[: r[-1] + 1] == 1), pred_recall[r[-1]]]
        with np.errstate(invalid="ignore", divide="ignore"):
            prec, rec = pr[:, 1] / pr[:, 0], pr[:, 1] / count_face
        mrec, mpre = np.r_[0, rec, 1], np.r_[0, prec, 0]
        mpre = np.fmax.accumulate(mpre[::-1])[::-1]
        k = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
        aps[s] = float(np.sum((mrec[k] - mrec[k - 1]) * mpre[k]))
    return aps


def subset(gt: GroundTruth, n: int) -> GroundTruth:
    """The first ``n`` images of ``gt`` (for timing the slow baseline)."""
    f = int(gt.offsets[n])
    sub = GroundTruth(sorted({e for e, _ in gt.images[:n]}), gt.images[:n], gt.offsets[: n + 1], gt.boxes[:f])
    sub.evaluated = {s: m[:f] for s, m in gt.evaluated.items()}
    sub.counts = {s: c[:n] for s, c in gt.counts.items()}
    return sub


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="timed runs of the vectorised evaluator")
    ap.add_argument("--subset", type=int, default=400, help="images the slow baseline is timed on")
    args = ap.parse_args()
    shared = find_shared_widerface()
    if shared is None:
        print("shared/widerface not found: set WIDERFACE_SHARED", file=sys.stderr)
        return 1
    gt_dir = shared / "ground_truth"
    with tempfile.TemporaryDirectory() as tmp:
        pred = make_reference_predictions(shared, Path(tmp) / "pred", seed=0)
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            res = evaluate(pred, gt_dir)
            times.append(time.perf_counter() - t)
        ours = statistics.median(times)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "yolo_ext.widerface", "evaluate", "--pred", str(pred), "--gt", str(gt_dir), "--json"],
                       check=True, capture_output=True, cwd=Path(__file__).resolve().parents[1])
        cli = time.perf_counter() - t
        gt = load_ground_truth(gt_dir)
        sub = subset(gt, args.subset)
        t = time.perf_counter()
        base_ap = loop_evaluate(pred, sub)
        base_sub = time.perf_counter() - t
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours_sub = evaluate(pred, sub)
    base = base_sub * len(gt.images) / args.subset
    print(f"machine: {os.cpu_count()} CPUs; {len(gt.images)} images, {len(gt.boxes)} face rows")
    for s in ("easy", "medium", "hard"):
        print(f"  {s:<6} AP {res[s]:.16f}  reference {REFERENCE_AP_SEED0[s]:.16f}  |diff| {abs(res[s] - REFERENCE_AP_SEED0[s]):.1e}")
    agree = max(abs(base_ap[s] - ours_sub[s]) for s in base_ap)
    print(f"vectorised evaluate (gt load + 3,226 files + 3 settings): median {ours:.3f} s over {args.runs} runs "
          f"(min {min(times):.3f}, max {max(times):.3f}); CLI wall incl. interpreter start {cli:.2f} s")
    print(f"per-image loop baseline: {base_sub:.1f} s on the first {args.subset} images, EXTRAPOLATED linearly to "
          f"{len(gt.images)} images: {base:.1f} s (subset APs agree with ours to {agree:.1e})")
    print(f"speed-up vs baseline: {base / ours:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
