"""The practitioner's stock ultralytics switches as our models see them: no weight decay on any bias or BatchNorm
weight (RepVGG branches and the auxiliary head included), the auxiliary head from the key, aux_loss in the names."""

from torch import nn

import yolo_ext  # noqa: F401
from yolo_ext.config.paths import resolve_model_cfg
from yolo_ext.engine.trainer import AnchorTrainer


def trainer(tiny_data, tmp_path, **kw):
    return AnchorTrainer(overrides={"model": str(resolve_model_cfg("face-vgg-fpn-rep.yaml")), "data": str(tiny_data),
                                    "imgsz": 64, "device": "cpu", "project": str(tmp_path), "name": "t", **kw})


def test_no_weight_decay_on_biases_and_batchnorm(tiny_data, tmp_path):
    t = trainer(tiny_data, tmp_path, aux_head=True)
    model = t.get_model(str(resolve_model_cfg("face-vgg-fpn-rep.yaml")), verbose=False)
    assert model.head.has_aux  # the aux_head key adds it
    opt = t.build_optimizer(model, name="SGD", lr=0.01, momentum=0.9, decay=5e-4)
    decay = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert len(decay) == len(list(model.parameters()))
    for name, m in model.named_modules():
        for pname, p in m.named_parameters(recurse=False):
            no_decay = pname == "bias" or isinstance(m, nn.BatchNorm2d)
            assert decay[id(p)] == (0.0 if no_decay else 5e-4), f"{name}.{pname}"
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert n_bn == 11 + 11 + 3  # 3x3 and 1x1 branch BNs of the 11 RepVGG blocks; identity BNs of layers 3, 5, 7


def test_validator_loss_names_include_aux_loss(tiny_data, tmp_path):
    t = trainer(tiny_data, tmp_path, aux_head=True)
    t.model = t.get_model(str(resolve_model_cfg("face-vgg-fpn-rep.yaml")), verbose=False)
    t.test_loader = None
    t.get_validator()
    assert t.loss_names == ("box_loss", "obj_loss", "cls_loss", "aux_loss")
    t2 = trainer(tiny_data, tmp_path)
    t2.model = t2.get_model(str(resolve_model_cfg("face-vgg-fpn-rep.yaml")), verbose=False)
    t2.test_loader = None
    t2.get_validator()
    assert t2.loss_names == ("box_loss", "obj_loss", "cls_loss")
