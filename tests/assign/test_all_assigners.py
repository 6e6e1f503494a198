"""One set of checks over every registered component and their combinations, derived from ``ASSIGNERS``."""

import pytest
import torch

from yolo_ext.assign import ASSIGNERS, Assignment, LevelTargets, build_assigner

ANCHORS = torch.tensor([[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]], dtype=torch.float32).view(3, 3, 2)
STRIDES = torch.tensor([8.0, 16.0, 32.0])
SHAPES = [(32, 40), (16, 20), (8, 10)]  # 256 x 320 input, ny != nx
BS = 3

# Non-default parameter values also swept, by parameter key: a spec with a component declaring the key runs twice.
VARIANTS = {"dedup_mode": "iou", "radius_scale": 1.0, "radius_max": 2.0, "pos_iou": 0.5, "neg_iou": 0.4,
            "atss_topk": 3, "simota_radius": 1.0, "tal_topk": 3, "tal_alpha": 1.0}


def allowed(registry, base):
    """Modifiers the base accepts (not in its REFUSES)."""
    return [n for n, c in registry.items() if c.KIND == "modifier" and n not in registry[base].REFUSES]


def sweep(registry):
    """(spec, params): each name alone, each base with each modifier it accepts and each base with every modifier it
    accepts, at the defaults; singles and full combinations also with the VARIANTS their components declare."""
    bases = [n for n, c in registry.items() if c.KIND == "base"]
    singles = [[n] for n in registry]
    pairs = [[b, m] for b in bases for m in allowed(registry, b)]
    fulls = [[b] + allowed(registry, b) for b in bases]

    def variant(names):
        return {k: v for k, v in VARIANTS.items() if any(k in registry[n].PARAMS for n in names)}

    return [("+".join(names), {}) for names in singles + pairs + fulls] + [
        ("+".join(names), variant(names)) for names in singles + fulls if variant(names)
    ]


SPECS = sweep(ASSIGNERS)
IDS = [s + ("-" + "-".join(f"{k}={v}" for k, v in p.items()) if p else "") for s, p in SPECS]


def make_targets(n, seed, one_image=None):
    g = torch.Generator().manual_seed(seed)
    b = torch.randint(0, BS, (n, 1), generator=g).float() if one_image is None else torch.full((n, 1), float(one_image))
    xy = torch.rand(n, 2, generator=g)
    wh = torch.rand(n, 2, generator=g) ** 2 * 0.5 + 0.003
    wh[: n // 8, 1] = wh[: n // 8, 0] / 25  # some extreme aspect ratios (recover has work to do)
    t = torch.cat((b, torch.zeros(n, 1), xy, wh), 1)
    t[: n // 4, 2:4] = torch.round(t[: n // 4, 2:4] * 8) / 8  # exactly on cell edges (and image borders)
    return t


def make_preds(targets, seed):
    """Decoded boxes: jittered copies of targets at some cells (so ignore/dedup-iou act), noise elsewhere."""
    g = torch.Generator().manual_seed(seed)
    preds = []
    for (ny, nx), s in zip(SHAPES, STRIDES.tolist()):
        gy, gx = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
        xy = (torch.stack((gx, gy), -1) + torch.rand(BS, 3, ny, nx, 2, generator=g) * 2 - 0.5) * s
        wh = torch.rand(BS, 3, ny, nx, 2, generator=g) * 4 * s
        p = torch.cat((xy, wh), -1)
        if targets.shape[0]:
            px = targets[:, 2:6] * torch.tensor([nx, ny, nx, ny]) * s
            i = (px[:, 0] / s).long().clamp(0, nx - 1)
            j = (px[:, 1] / s).long().clamp(0, ny - 1)
            p[targets[:, 0].long(), 0, j, i] = px * (1 + 0.1 * torch.rand(px.shape, generator=g))
        preds.append(p)
    return preds


def make_scores(seed, nc=1):
    """Per-level scores (BS, 3, ny, nx, nc) in (0, 1)."""
    g = torch.Generator().manual_seed(seed + 1000)
    return [torch.rand(BS, 3, ny, nx, nc, generator=g) * 0.98 + 0.01 for ny, nx in SHAPES]


def run(spec, params, targets, seed=0):
    return build_assigner(spec, **params)(targets, ANCHORS, STRIDES, SHAPES, make_preds(targets, seed), make_scores(seed))


def test_refused_combinations_raise_with_the_reason():
    refused = [(b, m) for b, c in ASSIGNERS.items() if c.KIND == "base" for m in c.REFUSES]
    assert ("tal", "recover") in refused and ("maxiou", "recover") in refused
    for b, m in refused:
        with pytest.raises(ValueError, match=f"{b!r} cannot be combined with {m!r}: .+"):
            build_assigner(f"{b}+{m}")


def check_structure(out, targets):
    assert isinstance(out, Assignment) and len(out) == len(SHAPES)
    for k, v in out.stats.items():  # counters: 0-d int64 tensors on the inputs' device (no host sync per call)
        assert isinstance(k, str) and isinstance(v, torch.Tensor), (k, v)
        assert v.shape == () and v.dtype == torch.int64 and v.device == targets.device, (k, v)
    assert out.stats["positives"] == sum(lt.num for lt in out)
    for lt, (ny, nx) in zip(out, SHAPES):
        assert isinstance(lt, LevelTargets)
        m = lt.b.shape[0]
        for x in (lt.b, lt.a, lt.gj, lt.gi, lt.t):
            assert x.dtype == torch.int64 and x.shape == (m,) and x.device.type == "cpu" and not x.requires_grad
        assert lt.weight.dtype == torch.float32 and lt.weight.shape == (m,)
        assert ((lt.weight > 0) & (lt.weight <= 1)).all()
        assert ((lt.a >= 0) & (lt.a < 3)).all()
        assert ((lt.gj >= 0) & (lt.gj < ny)).all() and ((lt.gi >= 0) & (lt.gi < nx)).all()
        assert ((lt.t >= 0) & (lt.t < targets.shape[0])).all()
        assert torch.equal(lt.b, targets[lt.t, 0].long())
        if lt.ignore is not None:
            assert lt.ignore.dtype == torch.bool and lt.ignore.shape == (BS, 3, ny, nx)
            assert not lt.ignore[lt.b, lt.a, lt.gj, lt.gi].any(), "a positive is ignored"
        if lt.quality is not None:  # soft targets: one per positive, in [0, 1]
            assert lt.quality.dtype == torch.float32 and lt.quality.shape == (m,) and not lt.quality.requires_grad
            assert ((lt.quality >= 0) & (lt.quality <= 1 + 1e-6)).all()


@pytest.mark.parametrize("spec,params", SPECS, ids=IDS)
def test_structure_random(spec, params):
    targets = make_targets(120, 1)
    before = targets.clone()
    out = run(spec, params, targets)
    check_structure(out, targets)
    assert torch.equal(targets, before), "assigner modified its input"
    assert out.stats["positives"] > 0


@pytest.mark.parametrize("spec,params", SPECS, ids=IDS)
def test_no_targets(spec, params):
    targets = torch.zeros(0, 6)
    out = run(spec, params, targets)
    check_structure(out, targets)
    assert out.stats["positives"] == 0
    for lt in out:
        assert lt.ignore is None or not lt.ignore.any()


@pytest.mark.parametrize("spec,params", SPECS, ids=IDS)
def test_all_targets_in_one_image(spec, params):
    targets = make_targets(80, 2, one_image=BS - 1)
    out = run(spec, params, targets)
    check_structure(out, targets)
    for lt in out:
        assert (lt.b == BS - 1).all()
        if lt.ignore is not None:
            assert not lt.ignore[: BS - 1].any()


@pytest.mark.parametrize("spec,params", SPECS, ids=IDS)
def test_deterministic_and_stateless(spec, params):
    t1, t2 = make_targets(90, 3), make_targets(40, 4)
    first = run(spec, params, t1)
    a = build_assigner(spec, **params)
    preds = make_preds(t1, 0)
    a(t2, ANCHORS, STRIDES, SHAPES, make_preds(t2, 5), make_scores(5))  # a call in between must not change anything
    again = a(t1, ANCHORS, STRIDES, SHAPES, preds, make_scores(0))
    assert first.stats == again.stats
    for x, y in zip(first, again):
        for u, v in zip(x, y):
            assert (u is None and v is None) or torch.equal(u, v)


@pytest.mark.parametrize("spec,params", SPECS, ids=IDS)
def test_grad_inputs_and_target_order(spec, params):
    """Runs under no_grad with grad-requiring preds; permuting targets permutes t, not the cells.

    (dedup breaks exact ties, equal centre distance and area, by target row; these random targets have none.)
    """
    targets = make_targets(60, 6)
    preds = [p.requires_grad_() for p in make_preds(targets, 0)]
    scores = [s.requires_grad_() for s in make_scores(0)]
    out = build_assigner(spec, **params)(targets, ANCHORS, STRIDES, SHAPES, preds, scores)
    perm = torch.randperm(targets.shape[0], generator=torch.Generator().manual_seed(0))
    out_p = build_assigner(spec, **params)(targets[perm], ANCHORS, STRIDES, SHAPES, preds, scores)
    for lt, lp in zip(out, out_p):
        assert lt.weight.grad_fn is None
        key = lambda x, t: sorted(zip(x.b.tolist(), x.a.tolist(), x.gj.tolist(), x.gi.tolist(), t.tolist(), x.weight.tolist(),
                                      [round(q, 5) for q in (x.quality if x.quality is not None else x.weight).tolist()]))
        assert key(lt, lt.t) == key(lp, perm[lp.t])
        assert lt.quality is None or lt.quality.grad_fn is None
        if lt.ignore is not None:
            assert torch.equal(lt.ignore, lp.ignore)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("spec,params", SPECS, ids=IDS)
def test_cuda_matches_cpu(spec, params):
    targets = make_targets(120, 7)
    preds, scores = make_preds(targets, 0), make_scores(0)
    cpu = build_assigner(spec, **params)(targets, ANCHORS, STRIDES, SHAPES, preds, scores)
    gpu = build_assigner(spec, **params)(targets.cuda(), ANCHORS.cuda(), STRIDES.cuda(), SHAPES, [p.cuda() for p in preds],
                                         [s.cuda() for s in scores])
    assert all(v.device.type == "cuda" for v in gpu.stats.values())
    assert {k: int(v) for k, v in cpu.stats.items()} == {k: int(v) for k, v in gpu.stats.items()}
    for lc, lg in zip(cpu, gpu):
        assert all(x is None or x.device.type == "cuda" for x in lg)
        key = lambda lt: sorted(zip(*(x.tolist() for x in (lt.b, lt.a, lt.gj, lt.gi, lt.t, lt.weight))))
        assert key(lc) == key(lg)
        assert (lc.ignore is None and lg.ignore is None) or torch.equal(lc.ignore, lg.ignore.cpu())
