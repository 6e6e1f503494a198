#!/usr/bin/env python
"""Training throughput on CPU: our anchor-based YOLOv5n vs ultralytics' stock anchor-free YOLOv5nu.

Same fixed batch (random images, WIDER-like random boxes), same image size, forward + loss + backward + SGD step,
images/s over a fixed number of iterations after warm-up, both measured in this run; prints the ratio (ours / stock).

usage: python bench/bench_train_throughput.py [--imgsz 320] [--batch 16] [--iters 10] [--targets 10]
"""

import argparse
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("YOLO_OFFLINE", "1")

import torch  # noqa: E402

import yolo_ext  # noqa: E402,F401
from ultralytics.nn.tasks import DetectionModel  # noqa: E402
from ultralytics.utils import DEFAULT_CFG  # noqa: E402
from yolo_ext.engine import AnchorDetectionModel  # noqa: E402
from yolo_ext.config.paths import resolve_model_cfg  # noqa: E402
from yolo_ext.config.defaults import trainer_base_cfg  # noqa: E402


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


def images_per_s(model, batch, iters, warmup=2):
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    model.train()
    for i in range(warmup + iters):
        if i == warmup:
            t0 = time.perf_counter()
        loss, _ = model.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
    return iters * batch["img"].shape[0] / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--targets", type=int, default=10, help="boxes per image")
    a = ap.parse_args()
    torch.manual_seed(0)
    batch = make_batch(a.batch, a.imgsz, a.targets)
    args = {**trainer_base_cfg(DEFAULT_CFG), "imgsz": a.imgsz}
    ours = AnchorDetectionModel(str(resolve_model_cfg("yolov5n.yaml")), nc=1, verbose=False)
    ours.args = SimpleNamespace(**args)
    stock = DetectionModel("yolov5nu.yaml", nc=1, verbose=False)
    stock.args = SimpleNamespace(**{**vars(DEFAULT_CFG), "imgsz": a.imgsz})
    print(f"CPU threads {torch.get_num_threads()}, batch {a.batch}, imgsz {a.imgsz}, {a.targets} boxes/image, "
          f"{a.iters} iterations after 2 warm-up")
    res = {}
    for name, m in (("stock yolov5nu (anchor-free, TAL)", stock), ("ours yolov5n (anchors, yolov5 assigner)", ours)):
        res[name] = images_per_s(m, batch, a.iters)
        print(f"  {name:42s} {res[name]:7.2f} images/s")
    r = list(res.values())
    print(f"ratio ours/stock: {r[1] / r[0]:.2f}  (target >= 1.0)")


if __name__ == "__main__":
    main()
