"""The pipeline (yolo_ext/assign/pipeline.py) never waits for the device: no tensor value is read on the host
and no host data is copied in, except the sizes of outputs whose shape depends on values (nonzero, boolean
masks, the ignore candidates). Checked on the CPU by logging every aten op of a call."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import yolo_ext.assign.context as context
from yolo_ext.assign import ASSIGNERS, base_names, build_assigner, modifier_order
from yolo_ext.assign.context import check_inputs, level_contexts

ANCHORS = torch.tensor([[10, 13, 16, 30], [30, 61, 62, 45], [116, 90, 156, 198]], dtype=torch.float32).view(3, 2, 2)
STRIDES = torch.tensor([8.0, 16.0, 32.0])
SHAPES = [(16, 20), (8, 10), (4, 5)]  # 128 x 160 input
BS = 2

# aten ops that, on a GPU, make the host wait for the device (or copy host data to it, which waits too)
SYNCING = {
    "aten._local_scalar_dense.default": "a value read: .item(), int(), float(), bool() of a tensor",
    "aten.lift_fresh.default": "a tensor built from host data (torch.tensor([...])): a host-to-device copy",
    "aten.bincount.default": "bincount sizes its output from the values",
    "aten._unique2.default": "unique sizes its output from the values",
    "aten.unique_consecutive.default": "unique_consecutive sizes its output from the values",
}


class OpLog(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        # a 0-d host scalar (``x[i] = 0.5``) is passed to a GPU kernel as an argument, not copied: not a sync
        if not (str(func) == "aten.lift_fresh.default" and out.dim() == 0):
            self.ops.append(str(func))
        return out


def inputs(seed=0, n=40):
    g = torch.Generator().manual_seed(seed)
    t = torch.cat((torch.randint(0, BS, (n, 1), generator=g).float(), torch.zeros(n, 1), torch.rand(n, 2, generator=g),
                   torch.rand(n, 2, generator=g) * 0.3 + 0.02), 1)
    t[: n // 8, 5] = t[: n // 8, 4] / 25  # extreme aspect ratios: recover acts
    preds = [torch.rand(BS, 2, ny, nx, 4, generator=g) * torch.tensor([nx * s, ny * s, 40.0, 40.0])
             for (ny, nx), s in zip(SHAPES, STRIDES.tolist())]
    return t, preds


def full(b):
    """The base with every modifier it accepts."""
    return "+".join((b,) + tuple(m for m in modifier_order() if m not in ASSIGNERS[b].REFUSES))


SPECS = [(full(b), {}) for b in base_names()] + [(full(b), {"dedup_mode": "iou"}) for b in base_names()]


@pytest.mark.parametrize("spec,params", SPECS, ids=[s + "-" + str(p) for s, p in SPECS])
def test_a_call_never_waits_for_the_device(spec, params, monkeypatch):
    t, preds = inputs()
    assigner = build_assigner(spec, **params)
    monkeypatch.setattr(context, "values_are_free", lambda x: False)  # take the path a GPU input takes
    reads = []
    tolist = torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "tolist", lambda self: reads.append(self.shape) or tolist(self))
    monkeypatch.setattr(torch.Tensor, "numpy", lambda self, **k: pytest.fail("numpy() in the assigner"))
    scores = [torch.rand(*p.shape[:4], 1, generator=torch.Generator().manual_seed(1)) for p in preds]
    with OpLog() as log:
        out = assigner(t, ANCHORS, STRIDES, SHAPES, preds, scores, batch_size=BS)
    bad = sorted({f"{op}: {why}" for op in log.ops for key, why in SYNCING.items() if op == key})
    assert not bad, "\n".join(bad)
    # the one explicit read: the ignore candidate count of a level (with its finiteness flag), at most once a level
    assert len(reads) <= len(SHAPES) and all(r == (2,) for r in reads), reads
    assert out.stats["positives"] > 0 and all(v.shape == () for v in out.stats.values())


def test_the_batch_check_reads_values_only_on_the_cpu():
    t = torch.tensor([[5.0, 0, 0.5, 0.5, 0.1, 0.1]])  # image 5 of a batch of 2
    preds = [torch.zeros(BS, 2, ny, nx, 4) for ny, nx in SHAPES]
    with pytest.raises(ValueError, match="image 5 but preds hold a batch of 2"):
        check_inputs(t, ANCHORS, STRIDES, SHAPES, preds)
    # off the CPU (meta tensors have no values at all) the shapes are checked and nothing is read
    meta = [x.to("meta") for x in (t, ANCHORS, STRIDES)]
    pm = [p.to("meta") for p in preds]
    targets, anchors, strides, shapes = check_inputs(*meta, SHAPES, pm)
    ctxs = level_contexts(targets, anchors, strides, shapes, pm)
    assert [c.metric.shape for c in ctxs] == [(2, 1)] * 3 and all(c.stride.device.type == "meta" for c in ctxs)
    with pytest.raises(ValueError, match=r"preds\[1\] must have shape .* one bs for all levels"):
        check_inputs(*meta, SHAPES, [pm[0][:1]] + pm[1:])
