"""The ``recover`` modifier (yolo_ext/assign/recover.py)."""

import pytest
import torch

from yolo_ext.assign import build_assigner

ONE = torch.tensor([[[8.0, 8.0]]])  # one level, one anchor of 1x1 cells at stride 8
S8 = torch.tensor([8.0])


def cells(lt):
    return sorted(zip(lt.gj.tolist(), lt.gi.tolist(), [round(w, 4) for w in lt.weight.tolist()]))


# ---------------------------------------------------------------- distance


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
