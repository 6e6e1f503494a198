"""Hand-computed cases of the ``dedup`` modifier (yolo_ext/assign/dedup.py)."""

import pytest
import torch

from yolo_ext.assign import build_assigner

ONE = torch.tensor([[[8.0, 8.0]]])  # one level, one anchor of 1x1 cells at stride 8
S8 = torch.tensor([8.0])


def cells(lt):
    return sorted(zip(lt.gj.tolist(), lt.gi.tolist(), [round(w, 4) for w in lt.weight.tolist()]))


# ---------------------------------------------------------------- distance


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
