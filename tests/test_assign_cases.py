"""Small hand-computed cases for distance, radius, dedup, ignore and recover."""

import pytest
import torch

from yolo_ext.assign import build_assigner
from yolo_ext.assign.ignore import iou_reach
from yolo_ext.assign.ops import box_iou_xywh

ONE = torch.tensor([[[8.0, 8.0]]])  # one level, one anchor of 1x1 cells at stride 8
S8 = torch.tensor([8.0])


def cells(lt):
    return sorted(zip(lt.gj.tolist(), lt.gi.tolist(), [round(w, 4) for w in lt.weight.tolist()]))


# ---------------------------------------------------------------- distance
@pytest.mark.parametrize("gx,expected", [
    (3.51, [(5, 3, 1.0), (5, 4, 0.51)]),
    (3.99, [(5, 3, 1.0), (5, 4, 0.99)]),
    (3.49, [(5, 2, 0.51), (5, 3, 1.0)]),
    (3.01, [(5, 2, 0.99), (5, 3, 1.0)]),
])
def test_distance_weights(gx, expected):
    # 10x10 grid; gy = 5.5 sits mid-cell, so no vertical neighbour (5.5 % 1 == 0.5 is not < 0.5).
    t = torch.tensor([[0, 0, gx / 10, 0.55, 0.1, 0.1]])
    out = build_assigner("distance")(t, ONE, S8, [(10, 10)])
    assert cells(out[0]) == [(gj, gi, pytest.approx(w, abs=1e-5)) for gj, gi, w in expected]


def test_distance_positives_equal_yolov5():
    g = torch.Generator().manual_seed(0)
    t = torch.cat((torch.randint(0, 2, (50, 1), generator=g).float(), torch.zeros(50, 1), torch.rand(50, 4, generator=g) * 0.5), 1)
    args = (t, torch.tensor([[[10.0, 13.0], [30.0, 20.0]]]), S8, [(30, 40)])
    a, b = build_assigner("yolov5")(*args)[0], build_assigner("distance")(*args)[0]
    for u, v in zip(a[:5], b[:5]):
        assert torch.equal(u, v)
    assert (b.weight > 0.5).all() and (b.weight < 1).any()


# ---------------------------------------------------------------- radius
def radius_cells(gx, gy, gw, gh, n=40, **params):
    t = torch.tensor([[0, 0, gx / n, gy / n, gw / n, gh / n]])
    anchors = torch.tensor([[[gw * 8, gh * 8]]])  # anchor == target size: ratio test passes
    out = build_assigner("radius", **params)(t, anchors, S8, [(n, n)])
    return set(zip(out[0].gj.tolist(), out[0].gi.tolist()))


def test_radius_small_target_gets_centre_cell_only():
    assert radius_cells(20.3, 7.9, 0.9, 0.8) == {(7, 20)}
    assert radius_cells(20.0, 8.0, 0.99, 0.99) == {(8, 20)}  # on a cell corner: neighbours 0.5 away > r


def test_radius_medium_and_large_targets():
    # 2x2 cells centred on a cell corner: r = 1, the four cells around the corner (distance 0.71).
    assert radius_cells(3.0, 3.0, 2.0, 2.0) == {(2, 2), (2, 3), (3, 2), (3, 3)}
    # the same box centred on a cell centre: the 4 neighbours are in the disc (distance 1 = r) but their
    # centres lie on the box edge, not strictly inside: centre cell only.
    assert radius_cells(3.5, 3.5, 2.0, 2.0) == {(3, 3)}
    # 12x12 cells centred on a cell centre: r = min(0.5 * 12, 3) = 3; integer offsets with
    # di^2 + dj^2 <= 9: 13 on the axes (|d| <= 3) + 4 * 4 off-axis ((1,1) (1,2) (2,1) (2,2)) = 29.
    big = radius_cells(20.5, 20.5, 12.0, 12.0)
    assert len(big) == 29 and (20, 23) in big and (23, 23) not in big
    # same box centred on a cell corner: half-integer offsets a^2 + b^2 <= 9 -> 32 cells.
    assert len(radius_cells(20.0, 20.0, 12.0, 12.0)) == 32
    # radius_max caps the disc: r = 1 -> 5 cells (centre + 4 direct neighbours).
    assert len(radius_cells(20.5, 20.5, 12.0, 12.0, radius_max=1.0)) == 5


def test_radius_respects_box_and_grid():
    # 8 x 1 cells: r = 0.5 * sqrt(8) = 1.41, but only cells whose centre is strictly inside the box
    # (|dy| < 0.5) count: the row through the centre, columns 19..21.
    assert radius_cells(20.5, 20.5, 8.0, 1.0) == {(20, 19), (20, 20), (20, 21)}
    # at the image corner (x = y = 0) only in-grid cells: centre (0, 0) and disc cells inside
    corner = radius_cells(0.0, 0.0, 12.0, 12.0)
    assert (0, 0) in corner and all(0 <= j < 40 and 0 <= i < 40 for j, i in corner)
    assert len(corner) == 8  # the quarter of the 32-cell disc lying inside the grid


# ---------------------------------------------------------------- dedup
def crowded():
    # two targets in image 0 whose centres fall in cell (row 4, col 4); the second is closer to the cell centre
    return torch.tensor([[0, 0, 4.2 / 10, 4.3 / 10, 0.1, 0.1], [0, 0, 4.45 / 10, 4.6 / 10, 0.12, 0.12]])


def test_dedup_unique_keeps_closest_centre():
    out = build_assigner("dedup")(crowded(), ONE, S8, [(10, 10)])
    lt = out[0]
    row = lt.t[(lt.gj == 4) & (lt.gi == 4)]
    assert row.tolist() == [1]
    full = build_assigner("yolov5")(crowded(), ONE, S8, [(10, 10)])[0]
    assert out.stats["dedup_removed"] == full.num - lt.num > 0


def test_dedup_iou_keeps_best_prediction_match():
    t = crowded()
    preds = [torch.zeros(1, 1, 10, 10, 4)]
    preds[0][..., 2:] = 1.0
    preds[0][0, 0, 4, 4] = t[0, 2:6] * 80  # the prediction at the shared cell is exactly target 0
    lt = build_assigner("dedup", dedup_mode="iou")(t, ONE, S8, [(10, 10)], preds)[0]
    assert lt.t[(lt.gj == 4) & (lt.gi == 4)].tolist() == [0]


@pytest.mark.parametrize("mode", ["unique", "iou"])
def test_dedup_leaves_no_duplicate_cells(mode):
    g = torch.Generator().manual_seed(1)
    n = 300
    t = torch.cat((torch.randint(0, 2, (n, 1), generator=g).float(), torch.zeros(n, 1), torch.rand(n, 2, generator=g), torch.rand(n, 2, generator=g) * 0.2 + 0.01), 1)
    t[:50, 2:4] = torch.round(t[:50, 2:4] * 20) / 20
    anchors = torch.tensor([[[10.0, 13.0], [16.0, 30.0]], [[30.0, 61.0], [62.0, 45.0]]])
    shapes = [(20, 20), (10, 10)]
    preds = [torch.rand(2, 2, ny, nx, 4, generator=g) * 160 for ny, nx in shapes]
    for spec in ("yolov5+dedup", "radius+dedup"):
        full = build_assigner(spec.split("+")[0])(t, anchors, torch.tensor([8.0, 16.0]), shapes)
        out = build_assigner(spec, dedup_mode=mode)(t, anchors, torch.tensor([8.0, 16.0]), shapes, preds)
        for lf, lt in zip(full, out):
            keys = set(zip(lt.b.tolist(), lt.a.tolist(), lt.gj.tolist(), lt.gi.tolist()))
            assert len(keys) == lt.num  # no duplicates
            assert keys == set(zip(lf.b.tolist(), lf.a.tolist(), lf.gj.tolist(), lf.gi.tolist()))  # nothing lost
        assert out.stats["dedup_removed"] == full.stats["positives"] - out.stats["positives"] > 0


# ---------------------------------------------------------------- ignore
def test_ignore_exactly_the_overlapping_negatives():
    t = torch.tensor([[0, 0, 0.45, 0.45, 0.1, 0.1]])  # 8x8 px box centred (36, 36) on an 80x80 image
    preds = torch.zeros(2, 1, 10, 10, 4)
    preds[..., :2] = 1000.0  # far away, small
    preds[..., 2:] = 2.0
    box = torch.tensor([36.0, 36.0, 8.0, 8.0])
    preds[0, 0, 1, 1] = box  # a negative cell whose prediction is the target: ignored
    preds[0, 0, 4, 4] = box  # the positive cell: never ignored
    preds[0, 0, 7, 2] = torch.tensor([38.0, 36.0, 8.0, 8.0])  # IoU 0.6 -> ignored
    preds[0, 0, 2, 7] = torch.tensor([40.0, 36.0, 8.0, 8.0])  # IoU 1/3 -> kept
    preds[1, 0, 3, 3] = box  # other image: no target there -> kept
    out = build_assigner("ignore", ignore_iou=0.5)(t, ONE, S8, [(10, 10)], [preds])
    lt = out[0]
    assert (4, 4) in set(zip(lt.gj.tolist(), lt.gi.tolist()))
    assert lt.ignore.nonzero().tolist() == [[0, 0, 1, 1], [0, 0, 7, 2]]
    assert out.stats["ignored"] == 2


def dense_ignore(t, preds, stride, tau):
    """Brute force: every prediction against every target of its image."""
    bs, na, ny, nx, _ = preds.shape
    mask = torch.zeros(bs, na, ny, nx, dtype=torch.bool)
    boxes = t[:, 2:6] * torch.tensor([nx, ny, nx, ny]) * stride
    for k in range(t.shape[0]):
        b = int(t[k, 0])
        mask[b] |= box_iou_xywh(preds[b], boxes[k]) > tau
    return mask


@pytest.mark.parametrize("tau", [0.2, 0.5, 0.7])
@pytest.mark.parametrize("spread", [1.0, 6.0])  # predictions far from their cells (spread in strides)
def test_ignore_matches_brute_force(tau, spread):
    g = torch.Generator().manual_seed(int(tau * 10 + spread))
    n, ny, nx, s = 40, 12, 16, 8.0
    t = torch.cat((torch.randint(0, 3, (n, 1), generator=g).float(), torch.zeros(n, 1), torch.rand(n, 2, generator=g), torch.rand(n, 2, generator=g) * 0.3 + 0.01), 1)
    gy, gx = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
    xy = (torch.stack((gx, gy), -1) + 0.5 + (torch.rand(3, 2, ny, nx, 2, generator=g) * 2 - 1) * spread) * s
    wh = torch.rand(3, 2, ny, nx, 2, generator=g) * 40
    preds = torch.cat((xy, wh), -1)
    # copies of targets, slightly perturbed, at random cells: IoUs close to every threshold
    k = torch.randint(0, n, (200,), generator=g)
    px = t[k, 2:6] * torch.tensor([nx, ny, nx, ny]) * s * (1 + (torch.rand(200, 4, generator=g) - 0.5))
    preds[t[k, 0].long(), torch.randint(0, 2, (200,), generator=g), torch.randint(0, ny, (200,), generator=g), torch.randint(0, nx, (200,), generator=g)] = px
    anchors = torch.tensor([[[10.0, 13.0], [30.0, 20.0]]])
    out = build_assigner("ignore", ignore_iou=tau)(t, anchors, torch.tensor([s]), [(ny, nx)], [preds])[0]
    expected = dense_ignore(t, preds, s, tau)
    expected[out.b, out.a, out.gj, out.gi] = False
    assert expected.sum() > 0
    assert torch.equal(out.ignore, expected)


def test_iou_reach_bound_is_tight_enough_and_valid():
    assert iou_reach(0.5) == 0.5 and iou_reach(0.7) == pytest.approx(0.3)
    # a prediction shifted by just under the bound can still pass; one just past it cannot
    for tau in (0.3, 0.5, 0.8):
        k = iou_reach(tau)
        g = torch.Generator().manual_seed(0)
        p = torch.rand(20000, 4, generator=g) * torch.tensor([6.0, 6.0, 5.0, 5.0]) - torch.tensor([3.0, 3.0, 0.0, 0.0])
        iou = box_iou_xywh(p, torch.tensor([0.0, 0.0, 1.0, 1.0]))
        assert (p[iou > tau, 0].abs() < k).all() and (p[iou > tau, 1].abs() < k).all()


def test_ignore_needs_preds():
    with pytest.raises(ValueError, match="needs preds"):
        build_assigner("radius+ignore")(torch.zeros(0, 6), ONE, S8, [(10, 10)])


# ---------------------------------------------------------------- recover
ANCHORS = torch.tensor([[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]], dtype=torch.float32).view(3, 3, 2)
STRIDES = torch.tensor([8.0, 16.0, 32.0])
SHAPES = [(80, 80), (40, 40), (20, 20)]


def test_recover_assigns_a_20_to_1_box():
    t = torch.tensor([[0, 0, 0.43, 0.61, 0.5, 0.025], [0, 0, 0.2, 0.2, 0.05, 0.05]])  # 320 x 16 px, and a normal face
    base = build_assigner("yolov5")(t, ANCHORS, STRIDES, SHAPES)
    assert not any((lt.t == 0).any() for lt in base)  # YOLOv5 drops the 20:1 box
    out = build_assigner("recover")(t, ANCHORS, STRIDES, SHAPES)
    assert out.stats["recovered"] == 1
    # best (level, anchor) by max(r, 1/r) computed by hand: for each anchor, max(320/aw, aw/320, 16/ah, ah/16)
    worst = [[max(320 / w, w / 320, 16 / h, h / 16) for w, h in lvl.tolist()] for lvl in ANCHORS]
    best = min((v, i, a) for i, row in enumerate(worst) for a, v in enumerate(row))
    assert best[1:] == (1, 1)  # 62x45 on P4: max(320/62, 45/16) = 5.16 (116x90 on P5 gives 90/16 = 5.6)
    for i, lt in enumerate(out):
        mine = lt.t == 0
        if i != best[1]:
            assert not mine.any()
            continue
        # centre (gx, gy) = (17.2, 24.4) on the 40x40 grid -> cell (24, 17), + yolov5 neighbours left (16) and up (23)
        assert sorted(zip(lt.gj[mine].tolist(), lt.gi[mine].tolist(), lt.a[mine].tolist())) == [(23, 17, 1), (24, 16, 1), (24, 17, 1)]
    for u, v in zip(base, out):  # the normal face keeps exactly its yolov5 positives
        assert torch.equal(torch.sort(u.gi[u.t == 1])[0], torch.sort(v.gi[v.t == 1])[0])


def test_recover_with_radius_uses_the_radius_cells():
    t = torch.tensor([[0, 0, 0.43, 0.61, 0.5, 0.025]])
    out = build_assigner("radius+recover")(t, ANCHORS, STRIDES, SHAPES)
    # P4 anchor 1, box 20 x 1 cells centred (17.2, 24.4): r = 0.5 * sqrt(20) = 2.24; |dy| < 0.5 keeps row 24
    # (dy = 0.1); columns with (dx^2 + 0.01 <= 5): dx = -1.7, -0.7, 0.3, 1.3 -> 15..18 (2.3 and -2.7 are out)
    assert out.stats["recovered"] == 1
    assert out[0].num == out[2].num == 0
    assert sorted(zip(out[1].gj.tolist(), out[1].gi.tolist(), out[1].a.tolist())) == [(24, 15, 1), (24, 16, 1), (24, 17, 1), (24, 18, 1)]
