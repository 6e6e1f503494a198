"""`yolov5` assigner == a slow loop implementation of YOLOv5's build_targets (written from its description)."""

from collections import Counter

import numpy as np
import pytest
import torch

from yolo_ext.assign import build_assigner

F = np.float32
ANCHORS_3 = torch.tensor([[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]], dtype=torch.float32).view(3, 3, 2)


def reference_build_targets(targets, anchors_px, strides, shapes, anchor_t=4.0):
    """YOLOv5 v6/v7 build_targets, one target / anchor / offset at a time in float32 scalars.

    Returns per level a Counter of (b, a, gj, gi, t) tuples (duplicates counted).
    """
    tg = targets.numpy().astype(F)
    out = []
    for i, (ny, nx) in enumerate(shapes):
        level = Counter()
        for ai in range(anchors_px.shape[1]):
            aw = F(anchors_px[i, ai, 0].item()) / F(strides[i].item())
            ah = F(anchors_px[i, ai, 1].item()) / F(strides[i].item())
            for ti, row in enumerate(tg):
                gx, gy, gw, gh = row[2] * F(nx), row[3] * F(ny), row[4] * F(nx), row[5] * F(ny)
                rw, rh = gw / aw, gh / ah
                worst = max(max(rw, F(1) / rw), max(rh, F(1) / rh))
                if not worst < anchor_t:
                    continue
                gxi, gyi = F(nx) - gx, F(ny) - gy
                offsets = [(F(0), F(0))]
                if gx % F(1) < 0.5 and gx > 1:
                    offsets.append((F(0.5), F(0)))  # left
                if gy % F(1) < 0.5 and gy > 1:
                    offsets.append((F(0), F(0.5)))  # up
                if gxi % F(1) < 0.5 and gxi > 1:
                    offsets.append((F(-0.5), F(0)))  # right
                if gyi % F(1) < 0.5 and gyi > 1:
                    offsets.append((F(0), F(-0.5)))  # down
                for ox, oy in offsets:
                    gi = min(max(int(gx - ox), 0), nx - 1)  # int() truncates like .long()
                    gj = min(max(int(gy - oy), 0), ny - 1)
                    level[(int(row[0]), ai, gj, gi, ti)] += 1
        out.append(level)
    return out


def as_counters(assignment):
    return [Counter(zip(*(x.tolist() for x in (lt.b, lt.a, lt.gj, lt.gi, lt.t)))) for lt in assignment]


def random_targets(n, bs, seed, max_wh=0.6):
    g = torch.Generator().manual_seed(seed)
    b = torch.randint(0, bs, (n, 1), generator=g).float()
    c = torch.randint(0, 3, (n, 1), generator=g).float()
    xy = torch.rand(n, 2, generator=g)
    wh = torch.rand(n, 2, generator=g) ** 3 * max_wh + 1e-4
    return torch.cat((b, c, xy, wh), 1)


def edge_targets():
    """Cell borders, image borders, tiny / huge boxes, extreme aspect ratios, ratio at anchor_t."""
    rows = []
    # 0.0125 / 0.025 / 0.05 put gx at ~1.0 (the `gx > 1` edge) on the 80 / 40 / 20 grids, 0.9875 ... the `gxi > 1` edge
    for x in (0.0, 0.25, 0.5, 1.0 / 16, 1.0, 0.999999, 1e-7, 0.0125, 0.025, 0.05, 0.9875, 0.975, 0.95):
        for y in (0.0, 0.5, 1.0, 0.3, 0.0125, 0.975):
            rows.append([0, 0, x, y, 0.05, 0.06])
    rows += [
        [1, 0, 0.5, 0.5, 1.0, 1.0],  # whole image
        [1, 0, 0.5, 0.5, 1e-6, 1e-6],  # tiny
        [1, 0, 0.3, 0.7, 0.4, 0.02],  # 20:1
        [1, 0, 0.3, 0.7, 0.01, 0.3],  # 1:30
        [0, 1, 0.0625, 0.0625, 0.0625, 0.0625],  # w * 80 / (10 / 8) == 4.0 exactly on P3 anchor 0
        [0, 1, 0.5, 0.5, 0.00390625, 0.00390625],  # 1/r == 4.0 exactly
        [1, 2, 0.5078125, 0.5078125, 0.0625, 0.08125],
    ]
    return torch.tensor(rows, dtype=torch.float32)


def check_equal(targets, anchors, strides, shapes, anchor_t=4.0):
    out = build_assigner("yolov5", anchor_t=anchor_t)(targets, anchors, strides, shapes)
    ref = reference_build_targets(targets, anchors, strides, shapes, anchor_t)
    got = as_counters(out)
    for i, (g, r) in enumerate(zip(got, ref)):
        assert g == r, f"level {i}: extra {g - r}, missing {r - g}"
    assert all(lt.weight.eq(1).all() for lt in out)
    return sum(sum(r.values()) for r in ref)


STRIDES = torch.tensor([8.0, 16.0, 32.0])


@pytest.mark.parametrize("seed", range(4))
def test_random_targets_three_levels(seed):
    shapes = [(80, 80), (40, 40), (20, 20)]
    assert check_equal(random_targets(60, 4, seed), ANCHORS_3, STRIDES, shapes) > 0


def test_edge_cases_square():
    shapes = [(80, 80), (40, 40), (20, 20)]
    assert check_equal(edge_targets(), ANCHORS_3, STRIDES, shapes) > 0


def test_ratio_exactly_at_anchor_t_is_dropped():
    # gw = 0.0625 * 80 = 5.0 cells, anchor 10 px / 8 = 1.25 cells: r == 4.0 exactly -> not matched.
    t = torch.tensor([[0, 0, 0.5, 0.5, 0.0625, 0.0625 * 13 / 10]])
    anchors = torch.tensor([[[10.0, 13.0]]])
    out = build_assigner("yolov5", anchor_t=4.0)(t, anchors, torch.tensor([8.0]), [(80, 80)])
    assert out[0].num == 0
    out = build_assigner("yolov5", anchor_t=4.0001)(t, anchors, torch.tensor([8.0]), [(80, 80)])
    assert out[0].num == 5  # gx = gy = 40.0 on cell edges: centre + all four offsets (two land on the centre)


def test_non_square_and_single_anchor():
    shapes = [(48, 80), (24, 40), (12, 20)]
    anchors = ANCHORS_3[:, :1].contiguous()
    for seed in range(3):
        check_equal(torch.cat((random_targets(40, 3, seed), edge_targets())), anchors, STRIDES, shapes)


def test_non_square_tall_and_other_anchor_t():
    shapes = [(96, 40), (48, 20), (24, 10)]
    check_equal(torch.cat((random_targets(50, 2, 7), edge_targets())), ANCHORS_3, STRIDES, shapes, anchor_t=2.91)


def test_no_targets():
    out = build_assigner("yolov5")(torch.zeros(0, 6), ANCHORS_3, STRIDES, [(80, 80), (40, 40), (20, 20)])
    assert [lt.num for lt in out] == [0, 0, 0]


def test_known_duplicates_from_border_clamp():
    # x = 1.0: gx = 80 -> centre column 80 clamped to 79; the left neighbour (int(79.5) = 79) is the same
    # column. y = 0.5: gy = 40 -> up row int(39.5) = 39 and down row int(40.5) = 40 (the centre row).
    # So YOLOv5 assigns this target three times to (row 40, col 79) and once to (39, 79).
    t = torch.tensor([[0, 0, 1.0, 0.5, 10 / 640, 13 / 640]])
    out = build_assigner("yolov5")(t, torch.tensor([[[10.0, 13.0]]]), torch.tensor([8.0]), [(80, 80)])
    cells = Counter(zip(out[0].gj.tolist(), out[0].gi.tolist()))
    assert cells == Counter({(40, 79): 3, (39, 79): 1})
