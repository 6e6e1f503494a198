"""Elementwise losses: hand values, numerics, and properties over every registered loss."""

import math

import pytest
import torch

from yolo_ext.losses import LOSSES, get_loss
from yolo_ext.losses.functions import bce, focal, qfl, vfl

LOGITS = [-3.0, -0.7, 0.0, 0.4, 2.5]
TARGETS = [0.0, 0.3, 1.0]


def sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def hand_bce(x, t, pw=1.0):
    p = sig(x)
    return -(pw * t * math.log(p) + (1 - t) * math.log(1 - p))


def hand_qfl(x, y, beta=2.0):
    # GFL eq. 5
    s = sig(x)
    return -abs(y - s) ** beta * ((1 - y) * math.log(1 - s) + y * math.log(s))


def hand_vfl(x, q, alpha=0.75, gamma=2.0):
    # VarifocalNet eq. 2
    p = sig(x)
    if q > 0:
        return -q * (q * math.log(p) + (1 - q) * math.log(1 - p))
    return -alpha * p**gamma * math.log(1 - p)


def hand_focal(x, t, gamma=1.5, alpha=0.25):
    # RetinaNet focal loss, soft-target form of YOLOv5's FocalLoss
    p = sig(x)
    p_t = t * p + (1 - t) * (1 - p)
    a_t = t * alpha + (1 - t) * (1 - alpha)
    return hand_bce(x, t) * a_t * (1 - p_t) ** gamma


HAND = {"bce": hand_bce, "focal": hand_focal, "qfl": hand_qfl, "vfl": hand_vfl}


def grid(dtype=torch.float64):
    xs, ts = zip(*[(x, t) for x in LOGITS for t in TARGETS])
    return torch.tensor(xs, dtype=dtype), torch.tensor(ts, dtype=dtype)


@pytest.mark.parametrize("name", sorted(HAND))
def test_hand_values(name):
    x, t = grid()
    got = LOSSES[name].fn(x, t)
    want = torch.tensor([HAND[name](a, b) for a, b in zip(x.tolist(), t.tolist())], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)


def test_hand_values_nondefault_params():
    x, t = grid()
    cases = [
        (get_loss("qfl", beta=1.0), lambda a, b: hand_qfl(a, b, beta=1.0)),
        (get_loss("vfl", alpha=0.5, gamma=1.0), lambda a, b: hand_vfl(a, b, alpha=0.5, gamma=1.0)),
        (get_loss("focal", gamma=2.0, alpha=0.75), lambda a, b: hand_focal(a, b, gamma=2.0, alpha=0.75)),
    ]
    for fn, ref in cases:
        want = torch.tensor([ref(a, b) for a, b in zip(x.tolist(), t.tolist())], dtype=torch.float64)
        torch.testing.assert_close(fn(x, t), want, rtol=1e-12, atol=1e-14)


def test_focal_gamma0_alpha_half_is_exactly_half_bce():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 8, 8, generator=g) * 5
    t = torch.rand(4, 3, 8, 8, generator=g)
    t[0] = (t[0] > 0.5).float()
    assert torch.equal(focal(x, t, gamma=0.0, alpha=0.5), 0.5 * bce(x, t))
    assert torch.equal(focal(x, t, gamma=0.0, alpha=0.5, pos_weight=2.0), 0.5 * bce(x, t, pos_weight=2.0))


def test_vfl_negative_branch_scales_with_p_pow_gamma():
    x = torch.tensor([-4.0, -1.0, 0.0, 1.5, 3.0], dtype=torch.float64)
    q = torch.zeros_like(x)
    p = torch.sigmoid(x)
    # Raising gamma by one multiplies the q == 0 loss by p.
    torch.testing.assert_close(vfl(x, q, gamma=3.0) / vfl(x, q, gamma=2.0), p, rtol=1e-12, atol=0)
    # Relative to BCE on a negative, the factor is exactly alpha * p ** gamma.
    torch.testing.assert_close(vfl(x, q) / bce(x, q), 0.75 * p**2, rtol=1e-12, atol=0)
    # Positives are not focally modulated: weight is q itself.
    qp = torch.full_like(x, 0.3)
    torch.testing.assert_close(vfl(x, qp), 0.3 * bce(x, qp), rtol=1e-12, atol=0)


def test_bce_pos_weight():
    x, t = grid()
    want = torch.tensor([hand_bce(a, b, pw=3.0) for a, b in zip(x.tolist(), t.tolist())], dtype=torch.float64)
    torch.testing.assert_close(bce(x, t, pos_weight=3.0), want, rtol=1e-12, atol=1e-14)
    # Per-class tensor, as YOLOv5's BCEWithLogitsLoss(pos_weight=tensor([cls_pw])).
    xc = torch.tensor([[0.3, -1.2], [2.0, 0.1]], dtype=torch.float64)
    tc = torch.tensor([[1.0, 0.0], [0.4, 1.0]], dtype=torch.float64)
    pw = torch.tensor([2.0, 0.5], dtype=torch.float64)
    ref = torch.nn.BCEWithLogitsLoss(pos_weight=pw, reduction="none")(xc, tc)
    torch.testing.assert_close(get_loss("bce", pos_weight=pw)(xc, tc), ref)
    want = [[hand_bce(xc[i, j].item(), tc[i, j].item(), pw[j].item()) for j in range(2)] for i in range(2)]
    torch.testing.assert_close(ref, torch.tensor(want, dtype=torch.float64))


def test_pos_weight_in_other_losses():
    x, t = grid()
    base = bce(x, t, pos_weight=2.5)
    torch.testing.assert_close(focal(x, t, pos_weight=2.5) / focal(x, t), base / bce(x, t))
    torch.testing.assert_close(qfl(x, t, pos_weight=2.5) / qfl(x, t).clamp_min(1e-300), base / bce(x, t))
    neg = t == 0
    # VFL negative branch has no log(p) term: pos_weight leaves it unchanged.
    torch.testing.assert_close(vfl(x, t, pos_weight=2.5)[neg], vfl(x, t)[neg])
    assert (vfl(x, t, pos_weight=2.5)[~neg] > vfl(x, t)[~neg]).all()


EXTREME = [-100.0, -30.0, 30.0, 100.0]


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_finite_at_extreme_logits(name, dtype):
    xs = torch.tensor(EXTREME * 3, dtype=dtype, requires_grad=True)
    ts = torch.tensor([0.0] * 4 + [1.0] * 4 + [0.3] * 4, dtype=dtype)
    loss = LOSSES[name].fn(xs, ts)
    (grad,) = torch.autograd.grad(loss.sum(), xs)
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
    # Saturated and correct: zero loss (up to the float tail), and ~zero gradient.
    agree = ((xs < 0) & (ts == 0)) | ((xs > 0) & (ts == 1))
    agree &= xs.abs() == 100
    assert (loss[agree] < 1e-30).all() and (grad[agree].abs() < 1e-30).all()
    # Saturated and wrong: loss grows linearly with |x| and the gradient pushes back.
    wrong = (((xs > 0) & (ts == 0)) | ((xs < 0) & (ts == 1))) & (xs.abs() == 100)
    assert (loss[wrong] > 10).all() and (grad[wrong] * xs[wrong].sign() > 0).all()


@pytest.mark.parametrize("fn", [lambda x, t: focal(x, t, gamma=0.5), lambda x, t: qfl(x, t, beta=0.5),
                                lambda x, t: vfl(x, t, gamma=0.5)], ids=["focal-g0.5", "qfl-b0.5", "vfl-g0.5"])
def test_fractional_exponents_finite_gradients(fn):
    # Exponents below 1 have an infinite derivative at 0: the clamp keeps saturation finite.
    xs = torch.tensor(EXTREME * 2 + [200.0, -200.0], requires_grad=True)
    ts = torch.tensor([0.0] * 4 + [1.0] * 4 + [1.0, 0.0])
    (grad,) = torch.autograd.grad(fn(xs, ts).sum(), xs)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_zero_positives(name):
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    t = torch.zeros_like(x)
    loss = LOSSES[name].fn(x, t)
    (grad,) = torch.autograd.grad(loss.sum(), x)
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all() and (loss > 0).all()
    # Empty class-loss input (no positives in the batch): empty result, no error.
    empty = LOSSES[name].fn(torch.zeros(0, 4), torch.zeros(0, 4))
    assert empty.shape == (0, 4)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_computed_in_float32(name, dtype):
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(64, generator=g) * 8).to(dtype)
    t = torch.rand(64, generator=g).to(dtype)
    t[:20] = 0
    t[20:30] = 1
    got = LOSSES[name].fn(x, t)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, LOSSES[name].fn(x.float(), t.float()), rtol=0, atol=0)
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(LOSSES[name].fn(x, t).sum(), x)
    assert grad.dtype == dtype and torch.isfinite(grad).all()


# ---- properties over every registered loss ----------------------------------


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("shape", [(7,), (2, 3, 4, 5), (3, 1), ()])
def test_shape_preserved_and_nonnegative(name, shape):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(shape, generator=g) * 6
    t = torch.rand(shape, generator=g)
    out = get_loss(name)(x, t)
    assert out.shape == x.shape
    assert (out >= 0).all()
    assert (get_loss(name)(x, (t > 0.5).float()) >= 0).all()


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_minimised_when_prediction_agrees_with_hard_target(name):
    x = torch.linspace(-12, 12, 97, dtype=torch.float64)
    pos = get_loss(name)(x, torch.ones_like(x))
    neg = get_loss(name)(x, torch.zeros_like(x))
    assert (pos.diff() < 0).all(), "loss for target 1 must decrease as the logit rises"
    assert (neg.diff() > 0).all(), "loss for target 0 must increase as the logit rises"
    assert pos.argmin() == len(x) - 1 and neg.argmin() == 0


@pytest.mark.parametrize("name", ["bce", "qfl", "vfl"])
@pytest.mark.parametrize("y", [0.1, 0.3, 0.8])
def test_soft_target_optimum_is_the_target(name, y):
    # BCE, QFL and VFL (q > 0) are minimised at sigmoid(x) == y; focal's soft form is not.
    x = torch.tensor(math.log(y / (1 - y)), dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(LOSSES[name].fn(x, torch.tensor(y, dtype=torch.float64)), x)
    assert abs(grad.item()) < 1e-12
    near = torch.tensor([x.item() - 0.2, x.item() + 0.2], dtype=torch.float64)
    assert (LOSSES[name].fn(near, torch.full_like(near, y)) > LOSSES[name].fn(x.detach(), torch.tensor(y))).all()


def test_bad_inputs_raise_clearly():
    with pytest.raises(ValueError, match=r"pred shape \(2, 3\) != target shape \(3, 2\)"):
        bce(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(TypeError, match="floating point"):
        focal(torch.zeros(3, dtype=torch.long), torch.zeros(3))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_float32_relative_accuracy_in_the_tails(name):
    # 1 - sigmoid(x) is never formed by subtraction, so tiny losses of confident, correct
    # predictions keep full relative precision in float32 (compared with float64).
    x64 = torch.linspace(-30, 30, 121, dtype=torch.float64)
    for t in (0.0, 1.0):
        t64 = torch.full_like(x64, t)
        ref = LOSSES[name].fn(x64, t64)
        got = LOSSES[name].fn(x64.float(), t64.float()).double()
        torch.testing.assert_close(got, ref, rtol=2e-5, atol=0)


def test_pos_weight_must_broadcast_to_pred():
    with pytest.raises(ValueError, match=r"pos_weight shape \(3,\) does not broadcast to \(4, 2\)"):
        bce(torch.zeros(4, 2), torch.zeros(4, 2), pos_weight=torch.ones(3))
    with pytest.raises(ValueError, match=r"does not broadcast to \(1,\)"):
        vfl(torch.zeros(1), torch.zeros(1), pos_weight=torch.ones(3))
