"""``atss`` (yolo_ext/assign/atss.py): a hand-computed threshold, the nearest-window bound, and equality with a slow
per-target reference written from the paper / mmdetection's ATSSAssigner on random and edge cases."""

import math

import pytest
import torch

from yolo_ext.assign import build_assigner
from yolo_ext.assign.atss import nearest_window
from yolo_ext.ops import box_iou_xywh

from helpers import joint_scene, level_multiset


def test_hand_computed_threshold():
    """3x3 cells of 8 px, one 8x8 anchor: all 9 anchors are the candidates of a 20x8 box centred on cell (1, 1).
    IoUs: centre 64/160 = 0.4, left and right 48/176 = 0.2727 each, 6 zeros; mean 0.10505, unbiased std 0.16180,
    threshold 0.26686: the centre and both side cells pass and have their centres (4, 12), (20, 12) inside [2, 22]."""
    ious = [0.4, 48 / 176, 48 / 176] + [0.0] * 6
    mean = sum(ious) / 9
    std = math.sqrt(sum((v - mean) ** 2 for v in ious) / 8)
    assert abs(mean + std - 0.26686) < 1e-4
    t = torch.tensor([[0, 0, 12 / 24, 12 / 24, 20 / 24, 8 / 24]])
    out = build_assigner("atss")(t, torch.tensor([[[8.0, 8.0]]]), torch.tensor([8.0]), [(3, 3)])
    assert sorted(zip(out[0].gj.tolist(), out[0].gi.tolist())) == [(1, 0), (1, 1), (1, 2)]
    # 18 px wide: sides 0.2 (40/168 = 0.238) fall below the threshold 0.2423
    t[0, 4] = 18 / 24
    out = build_assigner("atss")(t, torch.tensor([[[8.0, 8.0]]]), torch.tensor([8.0]), [(3, 3)])
    assert sorted(zip(out[0].gj.tolist(), out[0].gi.tolist())) == [(1, 1)]


@pytest.mark.parametrize("k,na", [(1, 1), (4, 1), (9, 1), (9, 3), (25, 2), (30, 1)])
def test_nearest_window_holds_the_k_nearest_anywhere(k, na):
    h = nearest_window(k, na)
    g = torch.Generator().manual_seed(k)
    ny, nx = 12, 15
    jj, ii = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
    for xy in torch.rand(300, 2, generator=g) * torch.tensor([nx, ny]):
        d = ((ii + 0.5 - xy[0]) ** 2 + (jj + 0.5 - xy[1]) ** 2).reshape(-1)
        kth = d.repeat_interleave(na).sort().values[k - 1]
        near = d <= kth  # the k nearest and every tie with the k-th
        ci, cj = int(xy[0].clamp(max=nx - 1)), int(xy[1].clamp(max=ny - 1))
        assert ((ii.reshape(-1)[near] - ci).abs() <= h).all() and ((jj.reshape(-1)[near] - cj).abs() <= h).all()


def reference(t, anchors, strides, shapes, topk):
    """Per target, in Python: per level the topk anchors by centre distance (all anchors of the level, mmdet's
    (row, column, anchor) order on ties), threshold mean + std, IoU >= threshold and centre inside by > 0.01 px; then
    per cell the positive target of highest IoU (lowest row on ties)."""
    H, W = shapes[0][0] * int(strides[0]), shapes[0][1] * int(strides[0])
    px = t[:, 2:6] * torch.tensor([W, H, W, H])
    claims = {}
    for r in range(t.shape[0]):
        b, box = int(t[r, 0]), px[r]
        cands = []
        for k, ((ny, nx), s) in enumerate(zip(shapes, strides.tolist())):
            na = anchors.shape[1]
            jj, ii, aa = (x.reshape(-1) for x in torch.meshgrid(torch.arange(ny), torch.arange(nx), torch.arange(na), indexing="ij"))
            cx, cy = (ii + 0.5) * s, (jj + 0.5) * s
            d = ((cx - box[0]) ** 2 + (cy - box[1]) ** 2).sqrt()
            near = torch.sort(d, stable=True).indices[: min(topk, d.numel())]
            aboxes = torch.stack((cx[near], cy[near], anchors[k, aa[near], 0], anchors[k, aa[near], 1]), 1)
            for n, abox, iou in zip(near.tolist(), aboxes, box_iou_xywh(aboxes, box[None]).tolist()):
                cands.append((k, int(aa[n]), int(jj[n]), int(ii[n]), iou, abox.tolist()))
        ious = torch.tensor([c[4] for c in cands])
        thr = float(ious.mean() + ious.std())
        for k, a, j, i, iou, abox in cands:
            inside = min(abox[0] - box[0] + box[2] / 2, abox[1] - box[1] + box[3] / 2,
                         box[0] + box[2] / 2 - abox[0], box[1] + box[3] / 2 - abox[1]) > 0.01
            if iou >= thr and inside:
                key = (k, b, a, j, i)
                if key not in claims or iou > claims[key][0]:
                    claims[key] = (iou, r)
    return sorted(key + (r,) for key, (_, r) in claims.items())


@pytest.mark.parametrize("na", [1, 3])
@pytest.mark.parametrize("kind", ["random", "none", "huge", "tiny700", "ties"])
def test_equals_the_per_target_reference(kind, na):
    t, anchors, strides, shapes, preds, scores = joint_scene(kind, seed=3, na=na)
    for topk in (9, 4):
        out = build_assigner("atss", atss_topk=topk)(t, anchors, strides, shapes)
        assert level_multiset(out) == reference(t, anchors, strides, shapes, topk)
        assert all(lt.quality is None and lt.ignore is None for lt in out)


def test_dedup_and_ignore_combine():
    t, anchors, strides, shapes, preds, scores = joint_scene("random", seed=4, na=3)
    plain = build_assigner("atss")(t, anchors, strides, shapes, preds)
    both = build_assigner("atss+dedup+ignore")(t, anchors, strides, shapes, preds)
    assert level_multiset(plain) == level_multiset(both) and int(both.stats["dedup_removed"]) == 0  # one per cell
    assert int(both.stats["ignored"]) > 0
