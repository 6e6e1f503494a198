"""The augmentations inside ultralytics' training pipeline: where they sit (the upstream layout ``install`` relies on),
mosaic on and off, ``close_mosaic``, validation untouched, determinism under a seed, the trainer's build_dataset."""

import random
from copy import copy

import numpy as np
import pytest
from ultralytics.cfg import get_cfg
from ultralytics.data.augment import Compose, Format, Mosaic, RandomPerspective
from ultralytics.data.build import build_yolo_dataset
from ultralytics.data.dataset import YOLODataset
from ultralytics.data.utils import check_det_dataset

import yolo_ext  # noqa: F401
from yolo_ext.augment import cutout as cutout_mod
from yolo_ext.augment import AugmentedYOLODataset, Cutout, CutoutConfig, SquareCrop, SquareCropConfig, Tricks, attach
from yolo_ext.config.paths import resolve_model_cfg
from yolo_ext.engine.trainer import AnchorTrainer, run_tricks

IMGSZ = 64
CUT = CutoutConfig(p=1.0, holes=2, scale=(0.05, 0.2), min_visible=0.4, fill=114)
SQ = SquareCropConfig(p=0.5, scale=(0.3, 2.0))


def dataset(data_yaml, mode="train", **hyp):
    cfg = get_cfg(overrides={"imgsz": IMGSZ, "mosaic": 1.0, **hyp})
    return build_yolo_dataset(cfg, check_det_dataset(str(data_yaml))[mode], 4, check_det_dataset(str(data_yaml)),
                              mode=mode, stride=32)


def test_upstream_pipeline_layout_install_relies_on(tiny_data):
    """ultralytics 8.4: Compose([pre-transform Compose([Mosaic, ..., RandomPerspective]), MixUp, CutMix, ...,
    Format]); ``install`` replaces the pre-transform's contents and inserts before Format."""
    steps = dataset(tiny_data).transforms.transforms
    assert isinstance(steps[0], Compose) and isinstance(steps[0].transforms[0], Mosaic)
    assert any(isinstance(t, RandomPerspective) for t in steps[0].transforms)
    assert isinstance(steps[-1], Format)
    assert steps[1].pre_transform is steps[0]  # MixUp draws its second image through the same pre-transform


def test_attach_inserts_both_and_keeps_them_after_close_mosaic(tiny_data):
    ds = attach(dataset(tiny_data), Tricks(cutout=CUT, square_crop=SQ))
    assert type(ds) is AugmentedYOLODataset
    steps = ds.transforms.transforms
    crop = steps[0].transforms[0]
    assert len(steps[0].transforms) == 1 and isinstance(crop, SquareCrop)
    assert isinstance(crop.fallback.transforms[0], Mosaic) and isinstance(steps[-2], Cutout)
    ds.close_mosaic(hyp=copy(get_cfg(overrides={"imgsz": IMGSZ})))  # what the trainer does for the last epochs
    steps = ds.transforms.transforms
    assert isinstance(steps[0].transforms[0], SquareCrop) and isinstance(steps[-2], Cutout)
    assert steps[0].transforms[0].fallback.transforms[0].p == 0.0  # mosaic itself is closed


def test_validation_and_trickless_datasets_are_untouched(tiny_data):
    val = dataset(tiny_data, mode="val")
    assert attach(val, Tricks(cutout=CUT)) is val and type(val) is YOLODataset
    train = dataset(tiny_data)
    assert attach(train, Tricks(cutout=CutoutConfig(0.0, 1, (0.1, 0.2), 0.4))) is train and type(train) is YOLODataset


@pytest.mark.parametrize("mosaic", [0.0, 1.0])
def test_every_image_comes_out_at_imgsz_with_valid_labels(tiny_data, mosaic):
    ds = attach(dataset(tiny_data, mosaic=mosaic), Tricks(cutout=CUT, square_crop=SQ))
    random.seed(0)
    np.random.seed(0)
    for i in range(len(ds)):
        item = ds[i]
        assert tuple(item["img"].shape) == (3, IMGSZ, IMGSZ)
        b = item["bboxes"].numpy()  # xywh normalised
        assert ((b[:, :2] >= 0) & (b[:, :2] <= 1) & (b[:, 2:] > 0)).all()
        assert len(item["cls"]) == len(b)


def test_a_hole_over_everything_drops_every_label(tiny_data, monkeypatch):
    monkeypatch.setattr(cutout_mod, "sample_holes", lambda h, w, n, scale: np.array([[0, 0, w, h]]))
    for mosaic in (0.0, 1.0):
        ds = attach(dataset(tiny_data, mosaic=mosaic), Tricks(cutout=CUT))
        random.seed(0)
        for i in range(len(ds)):
            item = ds[i]
            assert (item["img"].numpy() == 114).all() and len(item["cls"]) == 0 and len(item["bboxes"]) == 0


def test_deterministic_under_a_seed(tiny_data):
    """Same seed, same images and labels (a fresh dataset each time: ultralytics' mosaic buffer is state too)."""

    def run(seed):
        ds = attach(dataset(tiny_data, mosaic=0.5), Tricks(cutout=CUT, square_crop=SQ))
        random.seed(seed)
        np.random.seed(seed)
        return [(item["img"].numpy(), item["bboxes"].numpy()) for item in (ds[i] for i in range(len(ds)))]

    a, b, c = run(0), run(0), run(1)
    for (ia, ba), (ib, bb) in zip(a, b):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(ba, bb)
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(a, c))


def test_trainer_build_dataset_attaches_the_run_tricks(tiny_data, tmp_path):
    t = AnchorTrainer(overrides={"model": str(resolve_model_cfg("face-vgg-fpn.yaml")), "data": str(tiny_data),
                                 "imgsz": IMGSZ, "device": "cpu", "project": str(tmp_path), "name": "ds",
                                 "cutout": 0.5, "cutout_fill": 114, "square_crop": 1.0,
                                 "square_crop_scale": [0.5, 1.0]})
    tricks = run_tricks(t.args)
    assert tricks.cutout == CutoutConfig(0.5, 3, (0.02, 0.2), 0.4, 114)
    assert tricks.square_crop == SquareCropConfig(1.0, (0.5, 1.0))
    t.model = t.get_model(str(resolve_model_cfg("face-vgg-fpn.yaml")), verbose=False)
    train = t.build_dataset(t.data["train"], mode="train", batch=4)
    val = t.build_dataset(t.data["val"], mode="val", batch=4)
    assert type(train) is AugmentedYOLODataset and train.tricks == tricks
    assert type(val) is YOLODataset
