"""build_assigner / ASSIGNERS / ASSIGNER_PARAMS / describe_assigners and input errors."""

import inspect

import pytest
import torch

from yolo_ext.assign import ASSIGNER_PARAMS, ASSIGNERS, MODIFIER_ORDER, build_assigner, describe_assigners

ONE = torch.tensor([[[8.0, 8.0]]])


def test_registry_is_a_plain_dict_with_declared_params():
    assert type(ASSIGNERS) is dict and "list" not in ASSIGNERS
    assert {"yolov5", "distance", "radius", "recover", "dedup", "ignore"} <= set(ASSIGNERS)
    seen = {}
    for name, cls in ASSIGNERS.items():
        assert cls.KIND in ("base", "modifier") and cls.DESCRIPTION and "\n" not in cls.DESCRIPTION
        init = {} if cls.__init__ is object.__init__ else inspect.signature(cls.__init__).parameters
        for key, default in cls.PARAMS.items():
            assert ASSIGNER_PARAMS[key] == default
            assert init[key].default == default, f"{name}.__init__ default for {key} differs from PARAMS"
            seen[key] = default
        assert set(init) - {"self"} == set(cls.PARAMS), f"{name} takes undeclared parameters"
        cls(**cls.PARAMS)
    assert seen == ASSIGNER_PARAMS
    assert all(isinstance(v, (int, float, str, bool)) for v in ASSIGNER_PARAMS.values())  # YAML-friendly hyps


@pytest.mark.parametrize("spec", list(ASSIGNERS) + ["radius+ignore+dedup", "distance+recover"])
def test_every_param_accepted_everywhere(spec):
    a = build_assigner(spec, **ASSIGNER_PARAMS)
    assert a.spec.split("+")[0] in ("yolov5", "distance", "radius")


def test_params_reach_only_their_component():
    a = build_assigner("radius+ignore", anchor_t=3.0, radius_max=2.0, ignore_iou=0.6, dedup_mode="iou")
    assert (a.base.anchor_t, a.base.radius_max, a.ignore.ignore_iou) == (3.0, 2.0, 0.6)
    assert a.dedup is None and a.recover is None


def test_fixed_modifier_order_and_default_base():
    assert build_assigner("ignore+dedup+radius+recover").spec == "radius+recover+dedup+ignore"
    assert build_assigner("ignore").spec == "yolov5+ignore"
    assert build_assigner(" distance + dedup ").spec == "distance+dedup"
    assert MODIFIER_ORDER == ("recover", "dedup", "ignore")


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError) as e:
        build_assigner("radius+atss")
    assert "'atss'" in str(e.value) and all(n in str(e.value) for n in ASSIGNERS)


@pytest.mark.parametrize("spec,match", [
    ("distance+radius", "base strategies"),
    ("yolov5+radius+ignore", "base strategies"),
    ("dedup+dedup", "repeats"),
    ("radius+radius", "repeats"),
    ("list", "reserved"),
    ("", "non-empty"),
    ("radius+", "unknown assigner ''"),
])
def test_impossible_specs(spec, match):
    with pytest.raises(ValueError, match=match):
        build_assigner(spec)


def test_unknown_and_invalid_params():
    with pytest.raises(ValueError, match="unknown assigner parameter.*iou_t"):
        build_assigner("yolov5", iou_t=0.2)
    for kwargs in ({"anchor_t": 1.0}, {"dedup_mode": "first"}, {"ignore_iou": 0.0}, {"radius_scale": -1}):
        with pytest.raises(ValueError):
            build_assigner("radius+dedup+ignore", **kwargs)


def test_describe_has_one_line_per_name():
    lines = describe_assigners().splitlines()
    assert [ln.split()[0] for ln in lines] == list(ASSIGNERS)
    assert "radius_max=3.0" in describe_assigners()


@pytest.mark.parametrize("args,match", [
    ((torch.zeros(3, 5), ONE, [8.0], [(4, 4)]), "targets must be a \\(n, 6\\)"),
    ((torch.zeros(3, 6), ONE[0], [8.0], [(4, 4)]), "anchors must be"),
    ((torch.zeros(3, 6), ONE, [8.0, 16.0], [(4, 4)]), "strides"),
    ((torch.zeros(3, 6), ONE, [8.0], [(4, 4), (2, 2)]), "shapes"),
])
def test_bad_inputs(args, match):
    with pytest.raises(ValueError, match=match):
        build_assigner("yolov5")(*args)


def test_bad_preds():
    t = torch.tensor([[2, 0, 0.5, 0.5, 0.1, 0.1]])
    with pytest.raises(ValueError, match=r"preds\[0\] must have shape"):
        build_assigner("ignore")(t, ONE, [8.0], [(4, 4)], [torch.zeros(3, 1, 4, 5, 4)])
    with pytest.raises(ValueError, match="image 2 but preds hold a batch of 2"):
        build_assigner("ignore")(t, ONE, [8.0], [(4, 4)], [torch.zeros(2, 1, 4, 4, 4)])
    bad = torch.zeros(3, 1, 4, 4, 4)
    bad[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        build_assigner("ignore")(t, ONE, [8.0], [(4, 4)], [bad])
