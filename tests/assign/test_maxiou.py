"""``maxiou`` (yolo_ext/assign/maxiou.py): a hand-computed case, and equality with a slow dense reference written from
SSD / RetinaFace / detectron2 (every anchor box against every target of its image) on random and edge cases."""

import pytest
import torch

from yolo_ext.assign import build_assigner
from yolo_ext.assign.maxiou import iou_window
from yolo_ext.ops import box_iou_xywh

from helpers import joint_scene, level_multiset

ONE = torch.tensor([[[8.0, 8.0]]])  # one level, one 8x8 px anchor at stride 8
S8 = torch.tensor([8.0])


def test_hand_computed_positive_best_anchor_and_band():
    # image 64x64 (8x8 cells). Target A 8x8 centred (36, 36): IoU 1 with the anchor of cell (4, 4) -> positive.
    # Target B 8x8 centred (15, 12): anchor of cell (1, 1) spans [8, 16] -> IoU 40/88 = 0.4545 < pos_iou 0.5, but it is
    # B's best anchor -> positive; cell (1, 2) spans [16, 24] -> IoU 24/104 = 0.2308 in [0.2, 0.5) -> ignored.
    t = torch.tensor([[0, 0, 36 / 64, 36 / 64, 8 / 64, 8 / 64], [0, 0, 15 / 64, 12 / 64, 8 / 64, 8 / 64]])
    out = build_assigner("maxiou", pos_iou=0.5, neg_iou=0.2)(t, ONE, S8, [(8, 8)], batch_size=1)
    lt = out[0]
    assert sorted(zip(lt.gj.tolist(), lt.gi.tolist(), lt.t.tolist())) == [(1, 1, 1), (4, 4, 0)]
    assert lt.ignore.nonzero().tolist() == [[0, 0, 1, 2]]
    assert lt.quality is None and lt.weight.eq(1).all()
    # with neg_iou above 0.2308 that cell is a plain negative
    out = build_assigner("maxiou", pos_iou=0.5, neg_iou=0.25)(t, ONE, S8, [(8, 8)], batch_size=1)
    assert not out[0].ignore.any()


def test_iou_window_bounds_every_pair_reaching_the_threshold():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(20000, 4, generator=g) * 40 + 1, torch.rand(20000, 4, generator=g) * 40 + 1
    a[:, :2] = 0
    b[:, :2] = (torch.rand(20000, 2, generator=g) - 0.5) * 80
    for tau in (0.1, 0.3, 0.5, 0.7):
        hit = box_iou_xywh(a, b) >= tau
        assert (b[hit, 0].abs() <= iou_window(a[hit, 2], b[hit, 2], tau) + 1e-4).all()
        assert (b[hit, 1].abs() <= iou_window(a[hit, 3], b[hit, 3], tau) + 1e-4).all()


def reference(t, anchors, strides, shapes, bs, pos_iou, neg_iou):
    """Dense: every anchor box of every cell against every target of its image (a loop over images and levels)."""
    H, W = shapes[0][0] * int(strides[0]), shapes[0][1] * int(strides[0])
    px = t[:, 2:6] * torch.tensor([W, H, W, H])
    pos, ignore = [], [torch.zeros(bs, anchors.shape[1], ny, nx, dtype=torch.bool) for ny, nx in shapes]
    for b in range(bs):
        rows = (t[:, 0] == b).nonzero().squeeze(1)
        cells, ious = [], []
        for k, ((ny, nx), s) in enumerate(zip(shapes, strides.tolist())):
            for a in range(anchors.shape[1]):
                for j in range(ny):
                    for i in range(nx):
                        cells.append((k, a, j, i))
            a_, j_, i_ = torch.tensor([c[1:] for c in cells if c[0] == k]).T
            boxes = torch.stack(((i_ + 0.5) * s, (j_ + 0.5) * s, anchors[k, a_, 0], anchors[k, a_, 1]), 1)
            ious.append(box_iou_xywh(boxes[:, None], px[rows][None]))  # (cells, targets of b)
        iou = torch.cat(ious)
        if rows.numel() == 0:
            continue
        cmax, arg = iou.max(1)  # first maximum: lowest target row
        tmax = iou.max(0).values
        best = (iou == tmax) & (tmax > 0)  # (cells, targets): the cell is a best anchor of the target
        for c, (m, r) in enumerate(zip(cmax.tolist(), arg.tolist())):
            k, a, j, i = cells[c]
            if best[c].any():  # the target (of those it is best for) it overlaps most
                r = int(torch.where(best[c], iou[c], torch.full_like(iou[c], -1.0)).max(0).indices)
                pos.append((k, b, a, j, i, int(rows[r])))
            elif m >= pos_iou:
                pos.append((k, b, a, j, i, int(rows[r])))
            elif m >= neg_iou:
                ignore[k][b, a, j, i] = True
    return sorted(pos), ignore


@pytest.mark.parametrize("na", [1, 3])
@pytest.mark.parametrize("kind", ["random", "none", "huge", "tiny700", "ties"])
def test_equals_the_dense_reference(kind, na):
    t, anchors, strides, shapes, preds, scores = joint_scene(kind, seed=1, na=na)
    for pos_iou, neg_iou in ((0.35, 0.3), (0.5, 0.4)):
        out = build_assigner("maxiou", pos_iou=pos_iou, neg_iou=neg_iou)(t, anchors, strides, shapes, batch_size=2)
        ref_pos, ref_ign = reference(t, anchors, strides, shapes, 2, pos_iou, neg_iou)
        assert level_multiset(out) == ref_pos
        for lt, ign in zip(out, ref_ign):
            assert torch.equal(lt.ignore, ign)
        if kind in ("random", "huge"):  # every target has a positive (none shares its best cell here)
            assert {p[-1] for p in ref_pos} == set(range(t.shape[0]))


def test_ignore_modifier_keeps_the_band():
    t, anchors, strides, shapes, preds, scores = joint_scene("random", seed=2, na=3)
    band = build_assigner("maxiou")(t, anchors, strides, shapes, preds)
    both = build_assigner("maxiou+ignore")(t, anchors, strides, shapes, preds)
    for x, y in zip(band, both):
        assert (y.ignore | ~x.ignore).all() and y.ignore.sum() >= x.ignore.sum()
