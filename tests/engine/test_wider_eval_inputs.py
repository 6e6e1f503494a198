"""A corrupt image in the WIDER val set is named, for both test-size protocols (upstream skips it with a warning and
the remaining results shift onto the wrong images, or PIL's open ends in a pi-heif install)."""

import numpy as np
import pytest
from PIL import Image

import yolo_ext  # noqa: F401
from yolo_ext.config.paths import resolve_model_cfg
from yolo_ext.engine.model import InferenceYOLO
from yolo_ext.engine.wider_eval import predict_wider


@pytest.mark.parametrize("imgsz", [64, 0])
def test_corrupt_val_image_is_named(tmp_path, imgsz):
    paths = []
    for k in range(3):
        p = tmp_path / "0--Parade" / f"0_Parade_{k}.jpg"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(np.full((48, 64, 3), 100 + k, np.uint8)).save(p)
        paths.append(p)
    paths[1].write_bytes(b"\xff\xd8 not really a jpeg")
    model = InferenceYOLO(str(resolve_model_cfg("yolov5n-1a.yaml")))
    with pytest.raises(ValueError, match=r"WIDER val image .*0_Parade_1\.jpg cannot be decoded"):
        predict_wider(model, paths, imgsz=imgsz, device="cpu", batch=3)
