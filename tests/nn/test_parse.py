"""The model-YAML parser's error paths: each error names the YAML file and the layer (index and row)."""

import pytest
import yaml

import yolo_ext  # noqa: F401
from yolo_ext.engine import AnchorDetectionModel
from yolo_ext.nn.head import AnchorDetect
from yolo_ext.nn.parse import parse_anchor_model, uses_anchor_head

HEAD = [[-1, 1, "AnchorDetect", ["nc", "anchors"]]]


def model_dict(backbone, head=HEAD, src="my-model.yaml"):
    return {"nc": 1, "anchors": [[16, 20]], "backbone": backbone, "head": head, "yaml_file": src}


GOOD = [[-1, 1, "ConvReLU", [8, 3, 2]], [-1, 1, "ConvReLU", [8, 3, 2]], [-1, 1, "ConvReLU", [8, 3, 2]]]


def test_minimal_model_builds():
    layers, save = parse_anchor_model(model_dict(GOOD), ch=3, verbose=False)
    assert isinstance(layers[-1], AnchorDetect) and len(layers) == 4 and save == []


@pytest.mark.parametrize("rows, layer, words", [
    ([[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "ConvRelu", [8, 3, 1]]], 1, "unknown module 'ConvRelu'. Valid: "),
    ([[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv"]], 1, r"a layer row is \[from, repeats, module, args\]"),
    ([[-1, 1, "Conv", [8, 3, 2]], "Conv 8 3 2"], 1, r"a layer row is \[from, repeats, module, args\]"),
    ([[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv", 8]], 1, r"a layer row is \[from, repeats, module, args\]"),
    ([[-1, 1, "Conv", [8, 3, 2]], [[-1, 3], 1, "Concat", [1]]], 1, "'from' \\[-1, 3\\] points at a layer that does not"),
    ([[2, 1, "Conv", [8, 3, 2]]], 0, "'from' 2 points at a layer that does not exist yet"),
    ([[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv", ["x"]]], 1, "cannot build Conv"),  # channels not a number
    ([[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv", []]], 1, "cannot build Conv"),
    ([[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "AnchorDetect", ["nc"]]], 1, "cannot build AnchorDetect"),
])
def test_row_errors_name_file_and_layer(rows, layer, words):
    with pytest.raises(ValueError, match=words) as e:
        parse_anchor_model(model_dict(rows), ch=3, verbose=False)
    msg = str(e.value)
    assert msg.startswith(f"my-model.yaml: layer {layer} "), msg
    assert repr(rows[layer]) in msg  # the offending row itself


def test_unknown_module_lists_each_valid_name_once():
    with pytest.raises(ValueError) as e:
        parse_anchor_model(model_dict([[-1, 1, "Nope", []]]), ch=3, verbose=False)
    valid = str(e.value).split("Valid: ")[1].split(", ")
    assert "AnchorDetect" in valid and "ConvReLU" in valid and len(valid) == len(set(valid))


def test_last_layer_must_be_anchor_detect():
    rows = GOOD + [[-1, 1, "ConvReLU", [8, 3, 1]]]
    with pytest.raises(ValueError, match="the last layer must be AnchorDetect") as e:
        parse_anchor_model(model_dict(rows, head=[]), ch=3, verbose=False)
    assert str(e.value).startswith(f"my-model.yaml: layer 3 {rows[-1]!r}: ")
    assert not uses_anchor_head(model_dict(rows, head=[]))  # so the patched ultralytics parser never routes it here
    with pytest.raises(ValueError, match="my-model.yaml: no layers: the last layer must be AnchorDetect"):
        parse_anchor_model(model_dict([], head=[]), ch=3, verbose=False)


def test_errors_from_a_yaml_file_name_that_file(tmp_path):
    p = tmp_path / "typo-model.yaml"
    p.write_text(yaml.safe_dump(model_dict(GOOD[:2] + [[-1, 1, "ConvReLu", [8, 3, 2]]], src=None)))
    with pytest.raises(ValueError, match=r"typo-model\.yaml: layer 2 .*unknown module 'ConvReLu'"):
        AnchorDetectionModel(str(p), nc=1, verbose=False)
