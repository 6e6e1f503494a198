#!/usr/bin/env python
"""Deploy benchmark: ONNX Runtime CPU latency at 640x640 of the face model fused vs unfused, and vs yolov5n.

    python bench/bench_deploy.py [--imgsz 640] [--runs 30] [--threads 2] [--json out.json]

Every model is exported to ONNX (opset 14, batch 1, ``AnchorDetect`` in export mode: output (1, 4 + nc, N)), checked
against PyTorch on one random image (max |ORT - torch|, boxes in pixels), then timed in one run with the same ONNX
Runtime settings (CPU provider, ``--threads`` intra-op threads, full graph optimisation unless ``--no-ort-opt``),
in rounds over the models (random order per round). Latency is the median over ``--runs`` single-image calls after warm-up; ratios are
against the fused face model (the deploy graph) measured in the same run. Params and GFLOPs (2 x MACs, ultralytics-thop, at ``--imgsz``) are of the graph exported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import yolo_ext  # noqa: E402,F401
from yolo_ext.engine import AnchorDetectionModel  # noqa: E402
from yolo_ext.config.paths import resolve_model_cfg  # noqa: E402

# name -> (model YAML, fuse before export). No "plain unfused" row: torch.onnx folds eval-mode BatchNorm into the
# preceding conv by itself, so the plain model's unfused export is the fused graph; the unfused graph that differs is
# the RepVGG training graph (3x3 + 1x1 + identity branches).
VARIANTS = {
    "face fused (deploy)": ("face-vgg-fpn.yaml", True),
    "face-rep unfused (train graph)": ("face-vgg-fpn-rep.yaml", False),
    "face-rep fused": ("face-vgg-fpn-rep.yaml", True),
    "face-3a fused": ("face-vgg-fpn-3a.yaml", True),
    "yolov5n fused": ("yolov5n.yaml", True),
}
BASELINE = "face fused (deploy)"


def build(cfg: str, fuse: bool) -> AnchorDetectionModel:
    torch.manual_seed(0)
    m = AnchorDetectionModel(str(resolve_model_cfg(cfg)), nc=1, verbose=False).eval()
    with torch.no_grad():  # non-trivial BN statistics, so folding is exercised as after training
        for bn in (x for x in m.modules() if isinstance(x, torch.nn.BatchNorm2d)):
            bn.running_mean.normal_(0, 0.1)
            bn.running_var.uniform_(0.5, 1.5)
    if fuse:
        m.fuse(verbose=False)
    return m


def export(name, cfg, fuse, imgsz, threads, ort_opt, tmp) -> tuple[dict, object, dict]:
    """Export one variant, open an ORT session and check it against PyTorch -> (row, session, feed)."""
    import onnx
    import onnxruntime as ort
    from ultralytics.utils.export.engine import torch2onnx
    from ultralytics.utils.torch_utils import get_flops

    m = build(cfg, fuse)
    x = torch.rand(1, 3, imgsz, imgsz)
    m.model[-1].export = True
    with torch.no_grad():
        ref = m(x).numpy()
    f = torch2onnx(m, x, str(Path(tmp) / f"{cfg.replace('.yaml', '')}_{int(fuse)}.onnx"))
    m.model[-1].export = False
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if ort_opt
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    sess = ort.InferenceSession(f, so, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x.numpy()}
    out = sess.run(None, feed)[0]
    nodes = onnx.load(f).graph.node
    row = {
        "model": name, "cfg": cfg, "fused": fuse,
        "params_M": sum(p.numel() for p in m.parameters()) / 1e6,
        "gflops": get_flops(m, imgsz),
        "onnx_convs": sum(n.op_type == "Conv" for n in nodes),
        "onnx_nodes": len(nodes),
        "max_abs_diff": float(np.abs(out - ref).max()),
    }
    return row, sess, feed


def time_interleaved(sessions, runs: int, warmup: int = 3) -> list[np.ndarray]:
    """Seconds per call for each (session, feed), measured in rounds (one call per model, in a fresh random order
    each round) so load drift and position in the round hit every model alike."""
    for sess, feed in sessions:
        for _ in range(warmup):
            sess.run(None, feed)
    rng = np.random.default_rng(0)
    t = np.zeros((runs, len(sessions)))
    for i in range(runs):
        for j in rng.permutation(len(sessions)):
            sess, feed = sessions[j]
            t0 = time.perf_counter()
            sess.run(None, feed)
            t[i, j] = time.perf_counter() - t0
    return list(t.T)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-ort-opt", action="store_true", help="disable ONNX Runtime graph optimisations")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file (atomically)")
    a = ap.parse_args(argv)
    import onnxruntime as ort

    print(f"ONNX Runtime {ort.__version__} CPU, {a.threads} threads, imgsz {a.imgsz}, batch 1, "
          f"median of {a.runs} interleaved runs, graph optimisation {'off' if a.no_ort_opt else 'all'}; "
          f"torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        built = [export(n, c, f, a.imgsz, a.threads, not a.no_ort_opt, tmp) for n, (c, f) in VARIANTS.items()]
        times = time_interleaved([(s, feed) for _, s, feed in built], a.runs)
    rows = [r for r, _, _ in built]
    for r, t in zip(rows, times):
        r["ms_median"], r["ms_p90"] = 1e3 * float(np.median(t)), 1e3 * float(np.percentile(t, 90))
    base = next(r for r in rows if r["model"] == BASELINE)
    print(f"{'model':<32}{'params M':>9}{'GFLOPs':>8}{'convs':>7}{'nodes':>7}{'|ort-pt|':>10}"
          f"{'ms med':>8}{'ms p90':>8}{'x deploy':>10}")
    for r in rows:
        r["ratio_vs_deploy"] = r["ms_median"] / base["ms_median"]
        print(f"{r['model']:<32}{r['params_M']:>9.3f}{r['gflops']:>8.2f}{r['onnx_convs']:>7}{r['onnx_nodes']:>7}"
              f"{r['max_abs_diff']:>10.1e}{r['ms_median']:>8.1f}{r['ms_p90']:>8.1f}{r['ratio_vs_deploy']:>10.2f}")
    if a.json:
        p = Path(a.json)
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_text(json.dumps(rows, indent=1))
        os.replace(tmp, p)
    return rows


if __name__ == "__main__":
    main()
