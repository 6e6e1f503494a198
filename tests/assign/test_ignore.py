"""The ``ignore`` modifier (yolo_ext/assign/ignore.py): hand case, brute force, the reach bound."""

import pytest
import torch

from yolo_ext.assign import build_assigner
from yolo_ext.assign.ignore import iou_reach
from yolo_ext.ops import box_iou_xywh

ONE = torch.tensor([[[8.0, 8.0]]])  # one level, one anchor of 1x1 cells at stride 8
S8 = torch.tensor([8.0])


def cells(lt):
    return sorted(zip(lt.gj.tolist(), lt.gi.tolist(), [round(w, 4) for w in lt.weight.tolist()]))


# ---------------------------------------------------------------- distance


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
