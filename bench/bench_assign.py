"""Speed and peak memory of the label assigners on a YOLOv5 batch, as ratios to ``yolov5`` measured in the same run.

Setup: batch 16, 640x640, strides 8/16/32; 1 anchor per level (the face model's 12x15 / 48x60 / 192x240) and 3
(YOLOv5's P3 10,13 16,30 33,23 / P4 30,61 62,45 59,119 / P5 116,90 156,198 373,326); WIDER-like faces (height
log-normal, median 12.5 px and p95 ~77 px at 640, width ~0.8 x height), 30, 300 and 700 per image (WIDER has images
with 700 faces); YOLOv5-style decoded predictions and random scores for the prediction-aware strategies. The
strategies of one (anchors, faces) scenario are called in interleaved rounds (``bench/timing.py``): per strategy the
median time per call with its p25-p75 spread, the ratio of medians to yolov5, the positives, and the peak memory of
one call (the largest live total of the profiler's CPU allocation events during the call, inputs excluded). Last
column: time growth from 30 to 300 faces per image (10x the targets; linear work gives <= 10x).

    python bench/bench_assign.py [--rounds 7] [--threads 1] [--device cpu] [--anchors 1 3] [--faces 30 300 700]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import interleaved, summary  # noqa: E402
from yolo_ext.assign import build_assigner  # noqa: E402

ANCHORS = {
    1: torch.tensor([[[12.0, 15.0]], [[48.0, 60.0]], [[192.0, 240.0]]]),
    3: torch.tensor([[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]], dtype=torch.float32).view(3, 3, 2),
}
STRIDES = torch.tensor([8.0, 16.0, 32.0])
IMG, BS = 640, 16
SHAPES = [(IMG // 8, IMG // 8), (IMG // 16, IMG // 16), (IMG // 32, IMG // 32)]
SPECS = [("yolov5", {}), ("distance", {}), ("radius", {}), ("recover", {}), ("dedup", {}), ("dedup", {"dedup_mode": "iou"}),
         ("ignore", {}), ("radius+ignore+dedup", {}), ("maxiou", {}), ("atss", {}), ("simota", {}), ("tal", {}),
         ("maxiou+ignore", {}), ("atss+dedup", {}), ("tal+ignore", {})]


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


def yolo_preds(anchors, seed):
    """Decoded predictions as YOLOv5 makes them (xy = (2 sig - 0.5 + grid) * s, wh = (2 sig)^2 * anchor) and scores."""
    g = torch.Generator().manual_seed(seed)
    na = anchors.shape[1]
    boxes, scores = [], []
    for (ny, nx), s, anc in zip(SHAPES, STRIDES.tolist(), anchors):
        gy, gx = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
        sig = torch.rand(BS, na, ny, nx, 4, generator=g)
        xy = (sig[..., :2] * 2 - 0.5 + torch.stack((gx, gy), -1)) * s
        wh = (sig[..., 2:] * 2) ** 2 * anc.view(1, na, 1, 1, 2)
        boxes.append(torch.cat((xy, wh), -1))
        scores.append(torch.rand(BS, na, ny, nx, 1, generator=g))
    return boxes, scores


def peak_bytes(fn) -> int:
    """Largest live total of CPU allocations during ``fn()`` (profiler allocation / free events, in time order)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    cur = best = 0
    for e in sorted(prof.events(), key=lambda e: e.time_range.start):
        cur += e.self_cpu_memory_usage
        best = max(best, cur)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: leave torch's default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--anchors", type=int, nargs="+", default=[1, 3], choices=[1, 3])
    ap.add_argument("--faces", type=int, nargs="+", default=[30, 300, 700])
    ap.add_argument("--specs", nargs="+", help="subset of the strategies (yolov5 is always measured)")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory pass")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    specs = [s for s in SPECS if not args.specs or s[0] in args.specs or s[0] == "yolov5"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {dev}, batch {BS}, {IMG}x{IMG}, "
          f"{args.rounds} interleaved rounds; time: median [p25-p75] ms, ratio of medians to yolov5")
    for na in args.anchors:
        anchors, strides = ANCHORS[na].to(dev), STRIDES.to(dev)
        boxes, scores = yolo_preds(ANCHORS[na], 0)
        boxes, scores = [b.to(dev) for b in boxes], [s.to(dev) for s in scores]
        res = {}
        for faces in args.faces:
            targets = wider_targets([faces] * BS, 1).to(dev)
            calls, names = [], []
            for spec, params in specs:
                assigner = build_assigner(spec, **params)
                names.append(assigner.spec + ("(iou)" if params.get("dedup_mode") == "iou" else ""))

                def call(assigner=assigner, targets=targets):
                    out = assigner(targets, anchors, strides, SHAPES, boxes, scores, batch_size=BS)
                    sync()
                    return out

                calls.append(call)
            for name, call, ts in zip(names, calls, interleaved(calls, args.rounds)):
                mem = 0 if args.no_memory or dev.type != "cpu" else peak_bytes(call)
                res[faces, name] = (ts, int(call().stats["positives"]), mem)
        base = {f: summary(res[f, "yolov5"][0])[0] for f in args.faces}
        print(f"\n{na} anchor(s) per level")
        head = f"{'strategy':<22}" + "".join(f"{str(f) + '/img':>48}" for f in args.faces)
        growth = 30 in args.faces and 300 in args.faces
        print(head + ("   300/30" if growth else "") + "\n" + "-" * (len(head) + 9))
        for n in dict.fromkeys(n for _, n in res):
            row = f"{n:<22}"
            for f in args.faces:
                ts, pos, mem = res[f, n]
                m, lo, hi = summary(ts)
                row += f"{m * 1e3:8.2f} [{lo * 1e3:6.2f}-{hi * 1e3:6.2f}] {m / base[f]:5.2f}x {pos:>7}p {mem / 2**20:6.0f}MB"
            if growth:
                row += f"{summary(res[300, n][0])[0] / summary(res[30, n][0])[0]:8.1f}x"
            print(row)
    print("\ncolumns per scenario: median ms [p25-p75], ratio to yolov5, positives, peak MB of one call")


if __name__ == "__main__":
    main()
