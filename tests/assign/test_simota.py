"""``simota`` (yolo_ext/assign/simota.py): a hand-computed dynamic k, and equality with a slow per-target reference
written from YOLOX (get_assignments / dynamic_k_matching) on random and edge cases."""

import math

import pytest
import torch
import torch.nn.functional as F

from yolo_ext.assign import build_assigner
from yolo_ext.ops import box_iou_xywh

from helpers import joint_scene, level_multiset


def test_hand_computed_dynamic_k():
    """One 40x40 box centred (32, 32) on 8x8 cells of 8 px: cells 2..5 lie in box and centre region. Predictions
    equal to the box at 3 cells (IoU 1), a 20x40 box inside it at 2 cells (IoU 0.5), far 1 px boxes elsewhere:
    top-10 IoU sum 4 -> k = 4: the three exact cells and, of the two 0.5 cells (equal cost), the lower index."""
    t = torch.tensor([[0, 0, 0.5, 0.5, 40 / 64, 40 / 64]])
    p = torch.tensor([500.0, 500.0, 1.0, 1.0]).repeat(1, 1, 8, 8, 1)
    box, half = torch.tensor([32.0, 32.0, 40.0, 40.0]), torch.tensor([32.0, 32.0, 20.0, 40.0])
    for j, i in ((2, 2), (3, 4), (5, 5)):
        p[0, 0, j, i] = box
    for j, i in ((4, 3), (2, 5)):
        p[0, 0, j, i] = half
    scores = torch.full((1, 1, 8, 8, 1), 0.5)
    out = build_assigner("simota")(t, torch.tensor([[[8.0, 8.0]]]), torch.tensor([8.0]), [(8, 8)], [p], [scores])
    cells = sorted(zip(out[0].gj.tolist(), out[0].gi.tolist(), out[0].quality.tolist()))
    assert [c[:2] for c in cells] == [(2, 2), (2, 5), (3, 4), (5, 5)]  # (2, 5) before (4, 3) in cell order
    assert [round(c[2], 6) for c in cells] == [1.0, 0.5, 1.0, 1.0]
    assert math.floor(1 + 1 + 1 + 0.5 + 0.5) == 4


def reference(t, strides, shapes, preds, scores, radius):
    """Per target over every prediction of its image (a loop over targets): YOLOX's regions, cost and dynamic k; a
    shared cell goes to the cheapest target having it as a candidate (lowest row on ties); ranking ties by the global
    cell index (level, anchor, row, column)."""
    H, W = shapes[0][0] * int(strides[0]), shapes[0][1] * int(strides[0])
    px = t[:, 2:6] * torch.tensor([W, H, W, H])
    lv, aa, jj, ii, ss = [], [], [], [], []
    for k, ((ny, nx), s) in enumerate(zip(shapes, strides.tolist())):
        na = preds[k].shape[1]
        a, j, i = (x.reshape(-1) for x in torch.meshgrid(torch.arange(na), torch.arange(ny), torch.arange(nx), indexing="ij"))
        lv.append(torch.full_like(a, k)), aa.append(a), jj.append(j), ii.append(i), ss.append(torch.full(a.shape, s))
    lv, aa, jj, ii, ss = (torch.cat(x) for x in (lv, aa, jj, ii, ss))
    cx, cy = (ii + 0.5) * ss, (jj + 0.5) * ss
    flat = lambda xs, b: torch.cat([x[b].reshape(-1, x.shape[-1]) for x in xs])  # noqa: E731 (level, anchor, row, col)
    cost_of, chosen = {}, {}
    for r in range(t.shape[0]):
        b, box, c = int(t[r, 0]), px[r], int(t[r, 1])
        pred, sc = flat(preds, b), flat(scores, b)
        in_box = torch.stack((cx - box[0] + box[2] / 2, cy - box[1] + box[3] / 2, box[0] + box[2] / 2 - cx, box[1] + box[3] / 2 - cy)).amin(0) > 0
        rs = radius * ss
        in_ctr = torch.stack((cx - box[0] + rs, cy - box[1] + rs, box[0] + rs - cx, box[1] + rs - cy)).amin(0) > 0
        iou = box_iou_xywh(pred, box[None])
        onehot = F.one_hot(torch.tensor(c), sc.shape[1]).float().expand_as(sc)
        cls_cost = F.binary_cross_entropy(sc.sqrt(), onehot, reduction="none").sum(1)
        cost = cls_cost + 3.0 * -torch.log(iou + 1e-8) + 1e5 * (~(in_box & in_ctr)).float()
        cand = [(n, float(iou[n]), float(cost[n])) for n in (in_box | in_ctr).nonzero().squeeze(1).tolist()]
        for n, _, cst in cand:
            cost_of.setdefault((b, n), []).append((cst, r))
        top = sorted(cand, key=lambda x: (-x[1], x[0]))[:10]
        k_dyn = max(1, math.floor(sum(x[1] for x in top)))
        for n, _, _ in sorted(cand, key=lambda x: (x[2], x[0]))[:k_dyn]:
            chosen.setdefault((b, n), []).append(r)
    out = []
    for (b, n), rows in chosen.items():
        row = rows[0] if len(rows) == 1 else min(cost_of[(b, n)])[1]
        out.append((int(lv[n]), b, int(aa[n]), int(jj[n]), int(ii[n]), row))
    return sorted(out)


@pytest.mark.parametrize("na", [1, 3])
@pytest.mark.parametrize("kind", ["random", "none", "huge", "ties", "tiny700"])
def test_equals_the_per_target_reference(kind, na):
    t, anchors, strides, shapes, preds, scores = joint_scene(kind, seed=5, na=na)
    out = build_assigner("simota")(t, anchors, strides, shapes, preds, scores)
    assert level_multiset(out) == reference(t, strides, shapes, preds, scores, 2.5)
    for k, lt in enumerate(out):  # soft target: the IoU of the positive's prediction with its target
        pred = preds[k][lt.b, lt.a, lt.gj, lt.gi]
        assert torch.allclose(lt.quality, box_iou_xywh(pred, t[lt.t, 2:6] * torch.tensor([160, 128, 160, 128])), atol=1e-6)
