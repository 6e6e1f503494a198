"""Hand-computed cases of the ``radius`` base (yolo_ext/assign/radius.py)."""

import pytest
import torch

from yolo_ext.assign import build_assigner

ONE = torch.tensor([[[8.0, 8.0]]])  # one level, one anchor of 1x1 cells at stride 8
S8 = torch.tensor([8.0])


def cells(lt):
    return sorted(zip(lt.gj.tolist(), lt.gi.tolist(), [round(w, 4) for w in lt.weight.tolist()]))


# ---------------------------------------------------------------- distance


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
