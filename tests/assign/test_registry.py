"""build_assigner / ASSIGNERS / assigner_params / describe_assigners, parameter ranges and input errors."""

import inspect

import pytest
import torch

from yolo_ext.assign import (
    ASSIGNERS, Assigner, Modifier, Strategy, assigner_params, base_names, build_assigner, describe_assigners,
    modifier_order,
)

ONE = torch.tensor([[[8.0, 8.0]]])
FULL = ["+".join((b,) + tuple(m for m in modifier_order() if m not in ASSIGNERS[b].REFUSES)) for b in base_names()]
# each base with every modifier it accepts


def test_registry_is_a_plain_dict_with_declared_params():
    assert type(ASSIGNERS) is dict and "list" not in ASSIGNERS
    assert {"yolov5", "distance", "radius", "recover", "dedup", "ignore"} <= set(ASSIGNERS)
    seen = {}
    params = assigner_params()
    for name, cls in ASSIGNERS.items():
        assert cls.KIND in ("base", "modifier") and cls.DESCRIPTION and "\n" not in cls.DESCRIPTION
        assert issubclass(cls, Strategy if cls.KIND == "base" else Modifier), f"{name} does not implement its protocol"
        init = {} if cls.__init__ is object.__init__ else inspect.signature(cls.__init__).parameters
        for key, default in cls.PARAMS.items():
            assert params[key] == default
            assert init[key].default == default, f"{name}.__init__ default for {key} differs from PARAMS"
            seen[key] = default
        assert set(init) - {"self"} == set(cls.PARAMS), f"{name} takes undeclared parameters"
        cls(**cls.PARAMS)
    assert seen == params
    assert all(isinstance(v, (int, float, str, bool)) for v in params.values())  # YAML-friendly hyps


@pytest.mark.parametrize("spec", list(ASSIGNERS) + FULL)
def test_every_param_accepted_everywhere(spec):
    a = build_assigner(spec, **assigner_params())
    assert a.spec.split("+")[0] in base_names()
    assert a.needs_preds == any(c.needs_preds for c in a.components.values())


def test_params_reach_only_their_component():
    a = build_assigner("radius+ignore", anchor_t=3.0, radius_max=2.0, ignore_iou=0.6, dedup_mode="iou")
    assert (a.base.anchor_t, a.base.radius_max, a.components["ignore"].ignore_iou) == (3.0, 2.0, 0.6)
    assert "dedup" not in a.components and "recover" not in a.components
    assert a.modifiers == (a.components["ignore"],)


def test_fixed_modifier_order_and_default_base():
    assert build_assigner("ignore+dedup+radius+recover").spec == "radius+recover+dedup+ignore"
    assert build_assigner("ignore").spec == "yolov5+ignore"
    assert build_assigner(" distance + dedup ").spec == "distance+dedup"
    assert modifier_order() == ("recover", "dedup", "ignore")
    for spec in FULL:  # whatever the order in the spec: the base, then the modifiers in registry order
        assert build_assigner("+".join(reversed(spec.split("+")))).spec == spec


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError) as e:
        build_assigner("radius+fcos")
    assert "'fcos'" in str(e.value) and all(n in str(e.value) for n in ASSIGNERS)


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


@pytest.mark.parametrize("key,value,allowed", [
    ("anchor_t", 1.0, "> 1"), ("anchor_t", 0.5, "> 1"), ("anchor_t", float("nan"), "> 1"), ("anchor_t", float("inf"), "> 1"),
    ("ignore_iou", 0.0, "in (0, 1)"), ("ignore_iou", 1.0, "in (0, 1)"), ("ignore_iou", 2, "in (0, 1)"),
    ("radius_max", -2, "> 0"), ("radius_max", 0, "> 0"), ("radius_scale", 0.0, "> 0"), ("radius_scale", -1, "> 0"),
    ("dedup_mode", "foo", "'unique', 'iou'"), ("dedup_mode", 1, "'unique', 'iou'"),
])
def test_out_of_range_values_name_key_value_and_range(key, value, allowed):
    with pytest.raises(ValueError) as e:
        build_assigner(next(s for s in FULL if s.startswith("radius")), **{key: value})
    msg = str(e.value)
    assert f"{key}={value!r}" in msg and allowed in msg, msg


@pytest.mark.parametrize("spec,key,value,allowed", [
    ("maxiou", "pos_iou", 0.0, "in (0, 1]"), ("maxiou", "pos_iou", 1.5, "in (0, 1]"),
    ("maxiou", "neg_iou", 0.5, "in (0, pos_iou=0.35]"), ("atss", "atss_topk", 0, ">= 1"),
    ("atss", "atss_topk", 2.5, "an integer"), ("simota", "simota_radius", 0, "> 0"), ("tal", "tal_topk", 0, ">= 1"),
    ("tal", "tal_alpha", -1, ">= 0"), ("tal", "tal_beta", float("nan"), ">= 0"),
])
def test_new_strategy_parameters_are_checked(spec, key, value, allowed):
    with pytest.raises(ValueError) as e:
        build_assigner(spec, **{key: value})
    msg = str(e.value)
    assert f"{key}={value!r}" in msg and allowed in msg, msg


@pytest.mark.parametrize("key,value", [
    ("anchor_t", True), ("radius_max", False), ("ignore_iou", "0.5"), ("anchor_t", None), ("radius_scale", "abc"), ("anchor_t", [4.0]),
])
def test_wrong_types_are_rejected(key, value):
    with pytest.raises(TypeError) as e:
        build_assigner(next(s for s in FULL if s.startswith("radius")), **{key: value})
    assert f"{key}={value!r}" in str(e.value) and "number" in str(e.value)


def test_valid_edge_values():
    a = build_assigner("radius+ignore", anchor_t=1.0001, radius_max=20, radius_scale=3, ignore_iou=0.999)
    assert (a.base.anchor_t, a.base.radius_max, a.base.radius_scale) == (1.0001, 20.0, 3.0)
    assert type(a.base.radius_max) is float and a.components["ignore"].ignore_iou == 0.999


def test_pipeline_checks_the_protocols():
    base, mod = ASSIGNERS[base_names()[0]](), ASSIGNERS[modifier_order()[0]]()
    with pytest.raises(TypeError, match="starts with a Strategy"):
        Assigner({"m": mod})
    with pytest.raises(TypeError, match="Modifier instances.*'b'"):
        Assigner({"a": base, "b": base})
    assert Assigner({"a": base, "b": mod}).spec == "a+b"


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


def test_an_assigner_survives_deepcopy_and_pickle():
    """The EMA model (criterion and assigner included) is a deepcopy; DDP pickles."""
    import copy
    import pickle

    a = build_assigner(FULL[-1], dedup_mode="iou")
    for b in (copy.deepcopy(a), pickle.loads(pickle.dumps(a))):
        assert b.spec == a.spec and repr(b) == repr(a) and b.needs_preds
