"""Hand-computed cases of the ``distance`` base (yolo_ext/assign/yolov5.py: DistanceAssigner)."""

import pytest
import torch

from yolo_ext.assign import build_assigner

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
