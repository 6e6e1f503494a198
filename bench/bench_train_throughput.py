#!/usr/bin/env python
"""Training throughput on CPU, and the criterion's share of a training step, each side measured in the same run.

1. Our anchor-based YOLOv5n vs ultralytics' stock anchor-free YOLOv5nu: same fixed batch (random images, WIDER-like
   random boxes), forward + loss + backward + SGD step. The two models alternate step by step over ``--rounds``
   rounds (``bench/timing.py``), so load from other processes hits both alike; prints the median images/s of each
   with its p25-p75 spread and the ratio of medians (ours / stock).
2. The criterion (assignment + losses, forward) as a share of a training step of the face model at ``--share-imgsz``
   (640), batch 16, ``--share-targets`` (300) WIDER-like faces per image, per assigner: each round runs one step per
   strategy; a step is forward, criterion, backward and SGD, and the criterion's part is its own call (its backward is
   inside the step's backward, not in the share). Prints per strategy the median step, median criterion time and the
   median of the per-step shares.

usage: python bench/bench_train_throughput.py [--imgsz 320] [--batch 16] [--rounds 7] [--targets 10]
                                              [--share-rounds 3] [--strategies yolov5 tal ...] [--skip-throughput]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("YOLO_OFFLINE", "1")

import torch  # noqa: E402

import yolo_ext  # noqa: E402,F401
from bench_assign import wider_targets  # noqa: E402
from timing import fmt, interleaved, summary  # noqa: E402
from ultralytics.nn.tasks import DetectionModel  # noqa: E402
from ultralytics.utils import DEFAULT_CFG  # noqa: E402
from yolo_ext.config.defaults import trainer_base_cfg  # noqa: E402
from yolo_ext.config.paths import resolve_model_cfg  # noqa: E402
from yolo_ext.criterion import YOLOv5Criterion  # noqa: E402
from yolo_ext.engine import AnchorDetectionModel  # noqa: E402

STRATEGIES = ["yolov5", "ignore", "radius+ignore+dedup", "maxiou", "atss", "simota", "tal"]


def make_batch(bs, imgsz, per_image, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = bs * per_image
    wh = (torch.rand(n, 2, generator=g) ** 3) * 0.3 + 0.01  # mostly small boxes, like faces
    xy = wh / 2 + torch.rand(n, 2, generator=g) * (1 - wh)
    return {
        "img": torch.rand(bs, 3, imgsz, imgsz, generator=g),
        "batch_idx": torch.arange(bs).repeat_interleave(per_image).float(),
        "cls": torch.zeros(n, 1),
        "bboxes": torch.cat((xy, wh), 1),
    }


def stepper(model, batch):
    """One training step (forward + loss + backward + SGD) per call."""
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    model.train()

    def step():
        loss, _ = model.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()

    return step


def throughput(a):
    batch = make_batch(a.batch, a.imgsz, a.targets)
    ours = AnchorDetectionModel(str(resolve_model_cfg("yolov5n.yaml")), nc=1, verbose=False)
    ours.args = SimpleNamespace(**{**trainer_base_cfg(DEFAULT_CFG), "imgsz": a.imgsz})
    stock = DetectionModel("yolov5nu.yaml", nc=1, verbose=False)
    stock.args = SimpleNamespace(**{**vars(DEFAULT_CFG), "imgsz": a.imgsz})
    names = ("stock yolov5nu (anchor-free, TAL)", "ours yolov5n (anchors, yolov5 assigner)")
    times = interleaved([stepper(stock, batch), stepper(ours, batch)], a.rounds, warmup=2)
    print(f"1. throughput: batch {a.batch}, imgsz {a.imgsz}, {a.targets} boxes/image, {a.rounds} interleaved rounds "
          "after 2 warm-up steps each")
    for name, ts in zip(names, times):
        m, lo, hi = summary(ts)
        print(f"  {name:42s} {a.batch / m:7.2f} images/s  [{a.batch / hi:.2f}-{a.batch / lo:.2f}]  (step {fmt(ts, 1, 's')})")
    print(f"  ratio ours/stock (medians): {summary(times[0])[0] / summary(times[1])[0]:.2f}  (target >= 1.0)")


def criterion_share(a):
    imgsz, bs = a.share_imgsz, 16
    torch.manual_seed(0)
    model = AnchorDetectionModel(str(resolve_model_cfg("face-vgg-fpn.yaml")), nc=1, verbose=False)
    base = {**trainer_base_cfg(DEFAULT_CFG), "imgsz": imgsz}
    t = wider_targets([a.share_targets] * bs, 1)
    batch = {"img": torch.rand(bs, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0)),
             "batch_idx": t[:, 0], "cls": t[:, 1:2], "bboxes": t[:, 2:6]}
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    model.train()
    crits, record = {}, {}
    for spec in a.strategies:
        model.args = SimpleNamespace(**{**base, "assigner": spec})
        crits[spec] = YOLOv5Criterion(model)
        record[spec] = []

    def step_with(spec):
        def step():
            t0 = time.perf_counter()
            preds = model(batch["img"])
            t1 = time.perf_counter()
            loss, _ = crits[spec](preds, batch)
            t2 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            record[spec].append((t2 - t1, time.perf_counter() - t0))
        return step

    interleaved([step_with(s) for s in a.strategies], a.share_rounds, warmup=1)
    print(f"\n2. criterion share of a training step: face model, {imgsz}x{imgsz}, batch {bs}, {a.share_targets} faces/image, "
          f"{a.share_rounds} interleaved rounds (after 1 warm-up step each)")
    print(f"  {'strategy':<22}{'step s (median)':>16}{'criterion ms':>14}{'share':>8}  share p25-p75")
    for spec in a.strategies:
        rec = record[spec][1:]  # the warm-up step is the first record
        shares = [c / s for c, s in rec]
        q = statistics.quantiles(shares, n=4, method="inclusive") if len(shares) > 1 else [shares[0]] * 3
        print(f"  {spec:<22}{statistics.median(s for _, s in rec):16.2f}{statistics.median(c for c, _ in rec) * 1e3:14.1f}"
              f"{statistics.median(shares):8.1%}  {q[0]:.1%}-{q[2]:.1%}")
    print("  goal: the criterion at most 15% of a step for every strategy")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds of the throughput comparison")
    ap.add_argument("--targets", type=int, default=10, help="boxes per image (throughput)")
    ap.add_argument("--share-imgsz", type=int, default=640)
    ap.add_argument("--share-targets", type=int, default=300)
    ap.add_argument("--share-rounds", type=int, default=3)
    ap.add_argument("--strategies", nargs="+", default=STRATEGIES)
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-share", action="store_true")
    a = ap.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}")
    if not a.skip_throughput:
        throughput(a)
    if not a.skip_share:
        criterion_share(a)


if __name__ == "__main__":
    main()
