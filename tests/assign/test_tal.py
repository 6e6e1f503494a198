"""``tal`` (yolo_ext/assign/tal.py) equals the installed ultralytics ``TaskAlignedAssigner`` (utils/tal.py, 8.4.190)
with one anchor per level: same positive cells, same target per cell, same soft targets to 1e-6; crowded images and
targets smaller than a cell (8.4.190 enlarges sides below the middle stride to it) included."""

import pytest
import torch
from ultralytics.utils.tal import TaskAlignedAssigner, make_anchors

from yolo_ext.assign import build_assigner

STRIDES = torch.tensor([8.0, 16.0, 32.0])
H, W = 256, 320
SHAPES = [(H // 8, W // 8), (H // 16, W // 16), (H // 32, W // 32)]
ANCHORS = torch.tensor([[[12.0, 15.0]], [[48.0, 60.0]], [[192.0, 240.0]]])  # 1 per level (the face model's)


def scene(seed, bs=3, counts=(40, 1, 0), tiny=False, crowd=False, nc=2):
    """Targets (n, 6), per-level decoded boxes (bs, 1, ny, nx, 4) px and scores (bs, 1, ny, nx, nc).

    Predictions are jittered copies of a target at the cells near it (so CIoU > 0 inside boxes), noise elsewhere."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for b, n in enumerate(counts):
        wh = torch.rand(n, 2, generator=g) * (0.05 if tiny else 0.4) + (0.005 if tiny else 0.02)
        if crowd:  # many targets in one corner, overlapping
            xy = 0.2 + torch.rand(n, 2, generator=g) * 0.15
        else:
            xy = wh / 2 + torch.rand(n, 2, generator=g) * (1 - wh)
        cls = torch.randint(0, nc, (n, 1), generator=g).float()
        rows.append(torch.cat((torch.full((n, 1), float(b)), cls, xy, wh), 1))
    t = torch.cat(rows)
    px = t[:, 2:6] * torch.tensor([W, H, W, H])
    preds, scores = [], []
    for (ny, nx), s in zip(SHAPES, STRIDES.tolist()):
        gy, gx = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
        centre = (torch.stack((gx, gy), -1).float() + 0.5) * s
        p = torch.cat((centre.expand(bs, 1, ny, nx, 2) + (torch.rand(bs, 1, ny, nx, 2, generator=g) - 0.5) * s,
                       (torch.rand(bs, 1, ny, nx, 2, generator=g) + 0.3) * 2 * s), -1)
        for k in range(t.shape[0]):  # near each target: its box, jittered (a loop in the test only)
            b = int(t[k, 0])
            x1, y1 = int(((px[k, 0] - px[k, 2] / 2) / s).floor().clamp(0, nx - 1)), int(((px[k, 1] - px[k, 3] / 2) / s).floor().clamp(0, ny - 1))
            x2, y2 = int(((px[k, 0] + px[k, 2] / 2) / s).ceil().clamp(1, nx)), int(((px[k, 1] + px[k, 3] / 2) / s).ceil().clamp(1, ny))
            jit = 1 + 0.3 * (torch.rand(1, y2 - y1 + 2, x2 - x1 + 2, 4, generator=g) - 0.5)
            region = p[b, :, max(y1 - 1, 0): y2 + 1, max(x1 - 1, 0): x2 + 1]
            region.copy_(px[k] * jit[:, : region.shape[1], : region.shape[2]])
        preds.append(p)
        scores.append(torch.rand(bs, 1, ny, nx, nc, generator=g) * 0.98 + 0.01)
    return t, preds, scores


def xyxy(b):
    return torch.cat((b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2), -1)


def reference(t, preds, scores, bs, nc, topk=10):
    """ultralytics' own assigner on the same inputs: anchor points = cell centres, level-major, row-major."""
    feats = [torch.zeros(1, 1, ny, nx) for ny, nx in SHAPES]
    anc, strd = make_anchors(feats, STRIDES, 0.5)
    pd_boxes = torch.cat([xyxy(p.reshape(bs, -1, 4)) for p in preds], 1)
    pd_scores = torch.cat([s.reshape(bs, -1, nc) for s in scores], 1)
    counts = torch.bincount(t[:, 0].long(), minlength=bs)
    m = max(int(counts.max()), 1)
    gt_labels, gt_boxes, rows = torch.zeros(bs, m, 1), torch.zeros(bs, m, 4), torch.full((bs, m), -1)
    box = xyxy(t[:, 2:6] * torch.tensor([W, H, W, H]))
    for b in range(bs):
        idx = (t[:, 0] == b).nonzero().squeeze(1)
        gt_labels[b, : len(idx), 0], gt_boxes[b, : len(idx)], rows[b, : len(idx)] = t[idx, 1], box[idx], idx
    mask_gt = gt_boxes.sum(2, keepdim=True).gt_(0.0)
    ref = TaskAlignedAssigner(topk=topk, num_classes=nc, alpha=0.5, beta=6.0, stride=STRIDES.tolist())
    _, _, tscores, fg, gt_idx = ref(pd_scores, pd_boxes, anc * strd, gt_labels, gt_boxes, mask_gt)
    out = {}
    for b, n in fg.nonzero().tolist():
        row = int(rows[b, gt_idx[b, n]])
        out[(b, n)] = (row, float(tscores[b, n, int(t[row, 1])]))
    return out


def ours(t, preds, scores, bs, **params):
    res = build_assigner("tal", **params)(t, ANCHORS, STRIDES, SHAPES, preds, scores, batch_size=bs)
    offs = [0, SHAPES[0][0] * SHAPES[0][1], SHAPES[0][0] * SHAPES[0][1] + SHAPES[1][0] * SHAPES[1][1]]
    out = {}
    for lt, off, (ny, nx) in zip(res, offs, SHAPES):
        for b, j, i, row, q in zip(lt.b.tolist(), lt.gj.tolist(), lt.gi.tolist(), lt.t.tolist(), lt.quality.tolist()):
            assert (b, off + j * nx + i) not in out, "a cell assigned twice"
            out[(b, off + j * nx + i)] = (row, q)
    return out


def assert_equal(mine, ref):
    assert mine.keys() == ref.keys(), (sorted(set(mine) - set(ref))[:5], sorted(set(ref) - set(mine))[:5])
    for k in ref:
        assert mine[k][0] == ref[k][0], (k, mine[k], ref[k])
        assert abs(mine[k][1] - ref[k][1]) <= 1e-6, (k, mine[k], ref[k])


@pytest.mark.parametrize("seed,kw", [
    (0, {}), (1, {"counts": (25, 25, 3)}), (2, {"crowd": True, "counts": (60, 2, 1)}),
    (3, {"tiny": True, "counts": (80, 10, 0)}), (4, {"tiny": True, "crowd": True, "counts": (50, 0, 5)}),
    (5, {"nc": 1, "counts": (30, 30, 30)}),
], ids=["random", "balanced", "crowded", "tiny", "tiny-crowded", "one-class"])
def test_tal_equals_ultralytics(seed, kw):
    nc = kw.get("nc", 2)
    t, preds, scores = scene(seed, **kw)
    ref = reference(t, preds, scores, 3, nc)
    assert len(ref) > 5
    assert_equal(ours(t, preds, scores, 3), ref)


def test_tal_topk_and_exponents_follow_the_reference():
    t, preds, scores = scene(7, counts=(30, 5, 2))
    feats = [torch.zeros(1, 1, ny, nx) for ny, nx in SHAPES]
    anc, strd = make_anchors(feats, STRIDES, 0.5)
    assert anc.shape[0] == sum(ny * nx for ny, nx in SHAPES)
    mine = ours(t, preds, scores, 3, tal_topk=4)
    assert_equal(mine, reference(t, preds, scores, 3, 2, topk=4))
    per_target = torch.bincount(torch.tensor([v[0] for v in mine.values()]))
    assert per_target.max() <= 4 + 3  # top 4, plus cells won from others by CIoU


def test_tiny_targets_are_enlarged_to_the_middle_stride():
    """A 4x4 px face centred between cell centres: inside-box test on a 16x16 box (ultralytics 8.4.190)."""
    t = torch.tensor([[0, 0, 100 / W, 100 / H, 4 / W, 4 / H]])
    _, preds, scores = scene(8, bs=1, counts=(0,))
    for p in preds:
        p[...] = torch.tensor([100.0, 100.0, 4.0, 4.0])  # every prediction is the face: CIoU 1
    out = build_assigner("tal")(t, ANCHORS, STRIDES, SHAPES, preds, scores)
    # enlarged box (92, 108) px, open: P3 centres 92 / 100 / 108 -> only 100 (cell 12); without the enlargement the
    # 4 px box (98, 102) would hold that one too, so P4 tells: centre 104 (cell 6) lies only in the enlarged box
    assert sorted(zip(out[0].gj.tolist(), out[0].gi.tolist())) == [(12, 12)]
    assert out[1].num == 1 and (out[1].gj.item(), out[1].gi.item()) == (6, 6)  # centre (104, 104) in (92, 108)
    assert out[2].num == 0


def test_no_targets_and_needs():
    a = build_assigner("tal")
    assert a.needs_preds and a.needs_scores
    _, preds, scores = scene(9, counts=(0, 0, 0))
    out = a(torch.zeros(0, 6), ANCHORS, STRIDES, SHAPES, preds, scores)
    assert [lt.num for lt in out] == [0, 0, 0]
    with pytest.raises(ValueError, match="needs scores"):
        a(torch.zeros(0, 6), ANCHORS, STRIDES, SHAPES, preds)
    with pytest.raises(ValueError, match="cannot be combined with 'recover'"):
        build_assigner("tal+recover")
