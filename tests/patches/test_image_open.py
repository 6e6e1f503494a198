"""An undecodable image raises Pillow's error naming the file (upstream: a pip install of pi-heif, then
``No module named 'pi_heif'``)."""

import importlib.util

import pytest
from PIL import Image, UnidentifiedImageError

import yolo_ext  # noqa: F401  (applies the patches)


def test_corrupt_image_names_the_file_and_installs_nothing(tmp_path, monkeypatch):
    if importlib.util.find_spec("pi_heif") is not None:
        pytest.skip("pi_heif is installed: upstream's HEIF fallback is kept")
    from ultralytics.utils import checks

    def no_install(*a, **k):
        raise AssertionError("tried to install a package")

    monkeypatch.setattr(checks, "check_requirements", no_install)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"definitely not a JPEG")
    with pytest.raises(UnidentifiedImageError, match="broken.jpg"):
        Image.open(bad)
    good = tmp_path / "ok.png"
    Image.new("RGB", (4, 3)).save(good)
    with Image.open(good) as im:
        assert im.size == (4, 3)
