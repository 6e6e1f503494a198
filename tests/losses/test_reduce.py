"""reduce_loss: documented values on a hand case, YOLOv5 equivalence, edge cases, default-norm rationale."""

import pytest
import torch

from yolo_ext.losses import LOSSES, NORM_MODES, get_loss, ohem_mask, reduce_loss

# Hand case. Counted cells (mask True): all but (0, 3) and (1, 0).
LOSS = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
MASK = torch.tensor([[True, True, True, False], [False, True, True, True]])
POS = torch.zeros(2, 4, dtype=torch.bool)
POS[0, 0] = POS[1, 1] = True
SOFT = torch.zeros(2, 4)
SOFT[0, 0], SOFT[1, 1], SOFT[0, 3] = 0.5, 0.25, 0.75  # (0, 3) is masked out


def test_hand_values_no_mask():
    assert reduce_loss(LOSS, "sum").item() == 36.0
    assert reduce_loss(LOSS, "mean").item() == 4.5  # 36 / 8
    assert reduce_loss(LOSS, "pos", pos=POS).item() == 18.0  # 36 / 2
    assert reduce_loss(LOSS, "target_sum", soft_target=SOFT, min_norm=0.1).item() == 24.0  # 36 / 1.5
    assert reduce_loss(LOSS, "target_sum", soft_target=SOFT).item() == 24.0  # 1.5 > floor 1


def test_hand_values_with_mask():
    # counted sum = 1 + 2 + 3 + 6 + 7 + 8 = 27 over 6 cells
    assert reduce_loss(LOSS, "sum", mask=MASK).item() == 27.0
    assert reduce_loss(LOSS, "mean", mask=MASK).item() == 4.5  # 27 / 6
    assert reduce_loss(LOSS, "pos", mask=MASK, pos=POS).item() == 13.5  # 27 / 2
    # soft targets over counted cells: 0.5 + 0.25 = 0.75 (the masked 0.75 does not count)
    assert reduce_loss(LOSS, "target_sum", mask=MASK, soft_target=SOFT, min_norm=0.1).item() == 36.0
    assert reduce_loss(LOSS, "target_sum", mask=MASK, soft_target=SOFT).item() == 27.0  # floor 1


def test_weight_scales_numerator_only():
    w = torch.tensor([[1.0], [2.0]])  # broadcast per row
    # numerator = (1 + 2 + 3) + 2 * (6 + 7 + 8) = 48; denominators unchanged
    assert reduce_loss(LOSS, "mean", mask=MASK, weight=w).item() == 8.0
    assert reduce_loss(LOSS, "pos", mask=MASK, weight=w, pos=POS).item() == 24.0


def test_counts_given_as_numbers():
    assert reduce_loss(LOSS, "pos", pos=4).item() == 9.0
    assert reduce_loss(LOSS, "pos", pos=torch.tensor(3.0)).item() == 12.0
    assert reduce_loss(LOSS, "target_sum", soft_target=2.0).item() == 18.0
    assert reduce_loss(LOSS, "pos", pos=0).item() == 36.0  # floored at min_norm = 1


def test_masked_out_nan_does_not_leak():
    loss = LOSS.clone()
    loss[0, 3] = float("nan")
    loss[1, 0] = float("inf")
    for mode in NORM_MODES:
        out = reduce_loss(loss, mode, mask=MASK, pos=POS, soft_target=SOFT)
        assert torch.isfinite(out), mode


def test_mean_equals_yolov5_bce_mean_and_masked_select_mean():
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(2, 3, 6, 6, generator=g), torch.rand(2, 3, 6, 6, generator=g)
    ref = torch.nn.BCEWithLogitsLoss()(x, t)
    torch.testing.assert_close(reduce_loss(LOSSES["bce"].fn(x, t), "mean"), ref)
    m = torch.rand(2, 3, 6, 6, generator=g) < 0.3
    el = LOSSES["bce"].fn(x, t)
    torch.testing.assert_close(reduce_loss(el, "mean", mask=m), el[m].mean())


def test_empty_and_no_positive_inputs_are_finite():
    empty = LOSSES["bce"].fn(torch.zeros(0, 3, requires_grad=True), torch.zeros(0, 3))
    for mode in NORM_MODES:
        out = reduce_loss(empty, mode, pos=torch.zeros(0, 3, dtype=torch.bool), soft_target=torch.zeros(0, 3))
        assert out.item() == 0.0 and out.shape == ()
    nothing = torch.zeros(2, 4, dtype=torch.bool)
    assert reduce_loss(LOSS, "mean", mask=nothing).item() == 0.0
    x = torch.randn(2, 50, requires_grad=True)
    for name in LOSSES:
        norm = LOSSES[name].default_norm
        out = reduce_loss(get_loss(name)(x, torch.zeros(2, 50)), norm, pos=nothing.new_zeros(2, 50))
        (g,) = torch.autograd.grad(out, x)
        assert torch.isfinite(out) and torch.isfinite(g).all() and out > 0, name


def test_half_input_reduced_in_float32():
    big = torch.full((70000,), 1.0, dtype=torch.float16)  # fp16 sum would overflow past 65504
    out = reduce_loss(big, "sum")
    assert out.dtype == torch.float32 and out.item() == 70000.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="valid modes: mean, sum, pos, target_sum"):
        reduce_loss(LOSS, "avg")
    with pytest.raises(ValueError, match="needs pos="):
        reduce_loss(LOSS, "pos")
    with pytest.raises(ValueError, match="needs soft_target="):
        reduce_loss(LOSS, "target_sum")
    with pytest.raises(ValueError, match=r"mask shape \(3,\) does not broadcast"):
        reduce_loss(LOSS, "mean", mask=torch.ones(3, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask must be a bool"):
        reduce_loss(LOSS, "mean", mask=MASK.float())
    with pytest.raises(ValueError, match=r"pos shape \(4,\) != loss shape \(2, 4\)"):
        reduce_loss(LOSS, "pos", pos=POS[0])
    with pytest.raises(TypeError, match="pos must be a bool"):
        reduce_loss(LOSS, "pos", pos=POS.float())
    with pytest.raises(ValueError, match="min_norm"):
        reduce_loss(LOSS, "pos", pos=POS, min_norm=0.0)


def test_ohem_mask_feeds_reduce():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 40, generator=g)
    pos = torch.zeros(3, 40, dtype=torch.bool)
    pos[1, :2] = True
    t = pos.float() * 0.6
    el = LOSSES["bce"].fn(x, t)
    m = ohem_mask(el, pos, ratio=3.0, min_neg=4)
    # image 0: 4 negatives; image 1: 2 positives + 6 negatives; image 2: 4 negatives
    assert int(m.sum()) == 16
    assert reduce_loss(el, "mean", mask=m).item() == pytest.approx(el[m].sum().item() / 16)


def _map(n_cells, n_pos=20, seed=0):
    """Objectness map like an early-training YOLO level: easy negatives (p ~ 0.01), 20 positives."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_cells, generator=g, dtype=torch.float64) * 0.5 - 4.6
    t = torch.zeros(n_cells, dtype=torch.float64)
    pos = torch.zeros(n_cells, dtype=torch.bool)
    x[:n_pos], t[:n_pos], pos[:n_pos] = -1.0, 0.6, True
    return x, t, pos


@pytest.mark.parametrize("name", ["focal", "qfl", "vfl"])
def test_default_norm_rationale_invariant_to_number_of_easy_negatives(name):
    # The documented reason for LossSpec.default_norm: per-positive normalisation does not shrink
    # when the grid grows (more easy negatives), while the YOLOv5 'mean' does.
    fn = get_loss(name)
    x1, t1, p1 = _map(2100)
    x2, t2, p2 = _map(8400)
    l1, l2 = fn(x1, t1), fn(x2, t2)
    mean_ratio = reduce_loss(l2, "mean") / reduce_loss(l1, "mean")
    pos_ratio = reduce_loss(l2, LOSSES[name].default_norm, pos=p2) / reduce_loss(l1, LOSSES[name].default_norm, pos=p1)
    assert 0.2 < mean_ratio < 0.4  # ~1/4 as the grid grows 4x
    assert 0.9 < pos_ratio < 1.3
    # ... and 'mean' puts the focal-type losses below YOLOv5's mean BCE, 'pos' well above it.
    bce_mean = reduce_loss(LOSSES["bce"].fn(x1, t1), "mean")
    assert reduce_loss(l1, "mean") < bce_mean < 0.2 * reduce_loss(l1, LOSSES[name].default_norm, pos=p1)
