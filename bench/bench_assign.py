"""Speed of the label assigners on a YOLOv5 batch, as ratios to ``yolov5`` measured in the same run.

Setup: batch 16, 640x640, strides 8/16/32, the standard YOLOv5 anchors (P3 10,13 16,30 33,23 /
P4 30,61 62,45 59,119 / P5 116,90 156,198 373,326), WIDER-like faces (height log-normal with
median 12.5 px and p95 ~77 px at 640, width ~0.8 x height), YOLOv5-style decoded predictions
(for ignore and dedup-iou). Scenarios: 30 faces per image, 300 per image, and one image with 700
faces plus 30 in each other image. Prints the median time per call and its ratio to yolov5, and
the 300/30 growth of each strategy (linear growth in targets -> at most ~10x; an O(n^2) step
would show ~100x). Calls are interleaved round-robin, so load from other processes shifts every
strategy alike and the ratios stay comparable.

    python bench/bench_assign.py [--repeats 15] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from yolo_ext.assign import build_assigner  # noqa: E402

ANCHORS = torch.tensor([[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]], dtype=torch.float32).view(3, 3, 2)
STRIDES = torch.tensor([8.0, 16.0, 32.0])
IMG, BS = 640, 16
SHAPES = [(IMG // 8, IMG // 8), (IMG // 16, IMG // 16), (IMG // 32, IMG // 32)]
SPECS = [("yolov5", {}), ("distance", {}), ("radius", {}), ("recover", {}), ("dedup", {}), ("dedup", {"dedup_mode": "iou"}),
         ("ignore", {}), ("radius+ignore+dedup", {})]


def wider_targets(counts, seed):
    """(n, 6) normalised targets, counts[i] faces in image i."""
    g = torch.Generator().manual_seed(seed)
    b = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts)).float()[:, None]
    n = b.shape[0]
    h = (torch.randn(n, generator=g) * 1.1 + torch.log(torch.tensor(12.5))).exp().clamp(2, 0.9 * IMG)
    w = (h * (0.8 + 0.1 * torch.randn(n, generator=g))).clamp(2, 0.9 * IMG)
    x = w / 2 + torch.rand(n, generator=g) * (IMG - w)
    y = h / 2 + torch.rand(n, generator=g) * (IMG - h)
    return torch.cat((b, torch.zeros(n, 1), torch.stack((x, y, w, h), 1) / IMG), 1)


def yolo_preds(seed):
    """Decoded predictions as YOLOv5 makes them: xy = (2 sig - 0.5 + grid) * s, wh = (2 sig)^2 * anchor."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for (ny, nx), s, anc in zip(SHAPES, STRIDES.tolist(), ANCHORS):
        gy, gx = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
        sig = torch.rand(BS, 3, ny, nx, 4, generator=g)
        xy = (sig[..., :2] * 2 - 0.5 + torch.stack((gx, gy), -1)) * s
        wh = (sig[..., 2:] * 2) ** 2 * anc.view(1, 3, 1, 1, 2)
        out.append(torch.cat((xy, wh), -1))
    return out


def median_times(fns, repeats):
    """Median seconds per call of each function; calls are interleaved round-robin so that load from
    other processes hits every strategy alike and the ratios stay meaningful."""
    for fn in fns:
        fn()  # warm-up
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    scenarios = {"30/img": [30] * BS, "300/img": [300] * BS, "700+15x30": [700] + [30] * (BS - 1)}
    preds = [p.to(dev) for p in yolo_preds(0)]
    anchors, strides = ANCHORS.to(dev), STRIDES.to(dev)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {dev}, batch {BS}, {IMG}x{IMG}, median of {args.repeats}")
    res = {}
    for sname, counts in scenarios.items():
        targets = wider_targets(counts, 1).to(dev)
        calls, names = [], []
        for spec, params in SPECS:
            assigner = build_assigner(spec, **params)
            names.append(assigner.spec + ("(iou)" if params.get("dedup_mode") == "iou" else ""))

            def call(assigner=assigner, targets=targets):
                out = assigner(targets, anchors, strides, SHAPES, preds)
                sync()
                return out

            calls.append(call)
        for name, call, t in zip(names, calls, median_times(calls, args.repeats)):
            res[sname, name] = (t, call().stats["positives"])
    names = list(dict.fromkeys(n for _, n in res))
    head = f"{'strategy':<24}" + "".join(f"{s:>26}" for s in scenarios) + f"{'300/30':>9}"
    print(head + "\n" + "-" * len(head))
    for n in names:
        row = f"{n:<24}"
        for s in scenarios:
            t, pos = res[s, n]
            row += f"{t * 1e3:8.2f} ms {t / res[s, 'yolov5'][0]:5.2f}x {int(pos):>7}p"
        row += f"{res['300/img', n][0] / res['30/img', n][0]:8.1f}x"
        print(row)
    print("columns: median ms per call, ratio to yolov5 in the same scenario, positives; 300/30: time growth (targets x10)")


if __name__ == "__main__":
    main()
