"""OHEM: exact agreement with a slow per-image reference, counts, ignore, ties, list form."""

import math

import pytest
import torch

from yolo_ext.losses import ohem_mask


def slow_ohem(loss, pos, ignore, ratio, min_neg):
    """Obviously-correct reference: one image at a time, Python sort by (-loss, index)."""
    bs, n = loss.shape
    out = torch.zeros(bs, n, dtype=torch.bool)
    for b in range(bs):
        p = pos[b].tolist()
        ign = ignore[b].tolist() if ignore is not None else [False] * n
        cands = [i for i in range(n) if not p[i] and not ign[i]]
        k = min(max(math.floor(ratio * sum(p)), min_neg), len(cands))
        hardest = sorted(cands, key=lambda i: (-loss[b, i].item(), i))[:k]
        for i in range(n):
            out[b, i] = p[i] or i in hardest
    return out


def make_case(seed, bs=5, n=60, pos_rate=0.05, ign_rate=0.1, ties=True):
    g = torch.Generator().manual_seed(seed)
    loss = torch.rand(bs, n, generator=g)
    if ties:  # few distinct values: exercises the tie rule
        loss = (loss * 4).floor() / 4
    pos = torch.rand(bs, n, generator=g) < pos_rate
    pos[0] = False  # an image without positives
    ignore = torch.rand(bs, n, generator=g) < ign_rate
    ignore &= ~pos
    return loss, pos, ignore


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ratio,min_neg", [(3.0, 4), (2.5, 0), (0.0, 7), (3.0, 1000), (1.0, 0)])
@pytest.mark.parametrize("with_ignore", [True, False])
def test_matches_slow_reference(seed, ratio, min_neg, with_ignore):
    loss, pos, ignore = make_case(seed, pos_rate=0.03 + 0.04 * seed)
    ignore = ignore if with_ignore else None
    got = ohem_mask(loss, pos, ignore, ratio=ratio, min_neg=min_neg)
    assert got.dtype == torch.bool and got.shape == loss.shape
    assert torch.equal(got, slow_ohem(loss, pos, ignore, ratio, min_neg))


def test_counts_hardness_ignore_and_positives():
    loss, pos, ignore = make_case(11, bs=6, n=200, ties=False)
    pos[3, :40] = True  # many positives: k capped by the available negatives
    ignore &= ~pos
    ratio, min_neg = 3.0, 10
    mask = ohem_mask(loss, pos, ignore, ratio=ratio, min_neg=min_neg)
    assert not (mask & ignore).any(), "ignored cells never count"
    assert (mask | ~pos).all(), "positives always count"
    for b in range(loss.shape[0]):
        cand = ~pos[b] & ~ignore[b]
        k = min(max(int(ratio * pos[b].sum()), min_neg), int(cand.sum()))
        neg = mask[b] & ~pos[b]
        assert int(neg.sum()) == k
        if 0 < k < int(cand.sum()):
            assert loss[b][neg].min() > loss[b][cand & ~neg].max(), "kept negatives are the hardest"
    assert int((mask[0] & ~pos[0]).sum()) == min_neg  # image without positives gets min_neg
    assert int((mask[3] & ~pos[3]).sum()) == int((~pos[3] & ~ignore[3]).sum())


def test_ties_prefer_lower_flat_index():
    loss = torch.zeros(2, 10)
    pos = torch.zeros(2, 10, dtype=torch.bool)
    pos[1, 9] = True
    mask = ohem_mask(loss, pos, ratio=2.0, min_neg=3)
    assert mask[0].nonzero().flatten().tolist() == [0, 1, 2]
    assert mask[1].nonzero().flatten().tolist() == [0, 1, 2, 9]


def test_positive_that_is_also_ignored_still_counts():
    loss = torch.rand(1, 8)
    pos = torch.zeros(1, 8, dtype=torch.bool)
    pos[0, 2] = True
    ignore = torch.zeros_like(pos)
    ignore[0, 2] = ignore[0, 5] = True
    mask = ohem_mask(loss, pos, ignore, ratio=100.0, min_neg=0)
    assert mask[0, 2] and not mask[0, 5] and int(mask.sum()) == 7


def test_list_of_levels_equals_concatenated_and_shapes_roundtrip():
    g = torch.Generator().manual_seed(3)
    shapes = [(4, 3, 8, 8), (4, 3, 4, 4), (4, 3, 2, 2)]
    losses = [torch.rand(s, generator=g) for s in shapes]
    poss = [torch.rand(s, generator=g) < 0.05 for s in shapes]
    igns = [(torch.rand(s, generator=g) < 0.1) & ~p for s, p in zip(shapes, poss)]
    got = ohem_mask(losses, poss, igns, ratio=3.0, min_neg=5)
    assert [tuple(m.shape) for m in got] == shapes
    flat = lambda ms: torch.cat([m.flatten(1) for m in ms], 1)  # noqa: E731
    want = ohem_mask(flat(losses), flat(poss), flat(igns), ratio=3.0, min_neg=5)
    assert torch.equal(flat(got), want)
    # Levels compete for one per-image budget (not k per level).
    assert torch.equal(flat(got), slow_ohem(flat(losses), flat(poss), flat(igns), 3.0, 5))


def test_single_level_4d_tensor_and_grad_input():
    loss = torch.rand(2, 3, 5, 5, requires_grad=True)
    pos = torch.zeros(2, 3, 5, 5, dtype=torch.bool)
    pos[1, 0, 2, 2] = True
    mask = ohem_mask(loss, pos, min_neg=4)
    assert mask.shape == loss.shape and not mask.requires_grad
    assert int(mask[0].sum()) == 4 and int(mask[1].sum()) == 1 + 4
    assert torch.equal(mask, slow_ohem(loss.detach().flatten(1), pos.flatten(1), None, 3.0, 4).view_as(mask))


def test_bad_inputs_raise():
    loss, pos = torch.rand(2, 5), torch.zeros(2, 5, dtype=torch.bool)
    with pytest.raises(ValueError, match="ratio"):
        ohem_mask(loss, pos, ratio=-1.0)
    with pytest.raises(ValueError, match="min_neg"):
        ohem_mask(loss, pos, min_neg=2.5)
    with pytest.raises(ValueError, match=r"pos shape\(s\) \(2, 4\) != loss shape\(s\) \(2, 5\)"):
        ohem_mask(loss, pos[:, :4])
    with pytest.raises(TypeError, match="pos must be bool"):
        ohem_mask(loss, pos.float())
    with pytest.raises(ValueError, match="ignore shape"):
        ohem_mask(loss, pos, ignore=torch.zeros(2, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least 2 dims"):
        ohem_mask(torch.rand(5), torch.zeros(5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"loss\[1\] shape \(3, 4\), expected \(bs=2"):
        ohem_mask([torch.rand(2, 4), torch.rand(3, 4)], [torch.zeros(2, 4, dtype=torch.bool)] * 2)
