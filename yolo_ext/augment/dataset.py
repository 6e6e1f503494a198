"""Our augmentations inside the stock ultralytics training pipeline, without editing an upstream file.

``attach(dataset, tricks)`` turns a built training ``YOLODataset`` into an ``AugmentedYOLODataset`` (a subclass that
adds no state of its own besides ``tricks``) and inserts the transforms into its pipeline; the subclass's
``build_transforms`` inserts them again whenever ultralytics rebuilds the pipeline (``close_mosaic``), so they stay
on for the whole run (SCRFD crops every epoch; cutout is not a mosaic).

Where they go in ultralytics 8.4's pipeline (``v8_transforms`` + ``Format``; the layout is asserted in
``tests/augment/test_dataset.py``):

- square crop replaces the contents of the pre-transform ``Compose([Mosaic, CopyPaste, RandomPerspective])`` (the
  pipeline's first element) by ``SquareCrop(fallback=<those transforms>)``: an image is either square-cropped to
  ``imgsz x imgsz`` (probability ``square_crop``) or goes the stock mosaic / affine way. MixUp and CutMix draw their
  second image through the same pre-transform object, so they see the same choice;
- cutout goes last before ``Format``: after every geometric and colour transform, on the final ``imgsz x imgsz``
  image, with mosaic on or off.

Validation datasets (``augment=False``) are never touched. Square crop is skipped (with a warning) for ``rect``
training, whose batches have their own shapes (``yolo_ext.config.validate`` refuses the combination up front).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ultralytics.data.augment import Compose, Format
from ultralytics.data.dataset import YOLODataset
from ultralytics.utils import LOGGER

from .cutout import Cutout, CutoutConfig
from .square_crop import SquareCrop, SquareCropConfig


@dataclass(frozen=True)
class Tricks:
    """The augmentations of one run; ``None`` (or probability 0) = off."""

    cutout: Optional[CutoutConfig] = None
    square_crop: Optional[SquareCropConfig] = None

    @property
    def any(self) -> bool:
        return bool((self.cutout and self.cutout.p > 0) or (self.square_crop and self.square_crop.p > 0))


def install(transforms: Compose, tricks: Tricks, imgsz: int, rect: bool = False) -> Compose:
    """Insert ``tricks`` into a training pipeline built by ultralytics' ``YOLODataset.build_transforms`` (in place;
    returns it). Raises RuntimeError if the pipeline does not have the layout described in the module docstring."""
    steps = transforms.transforms
    if not steps or not isinstance(steps[-1], Format):
        raise RuntimeError(f"yolo-ext augment: expected the pipeline to end with ultralytics' Format, got {steps!r}")
    sq = tricks.square_crop
    if sq is not None and sq.p > 0:
        if rect:
            LOGGER.warning("yolo-ext: square_crop is skipped for rect training (batches have their own shapes)")
        else:
            pre = steps[0]
            if not isinstance(pre, Compose):
                raise RuntimeError("yolo-ext augment: expected the pipeline to start with the mosaic/affine "
                                   f"pre-transform Compose, got {type(pre).__name__}")
            pre.transforms = [SquareCrop(sq, imgsz, fallback=Compose(list(pre.transforms)))]
    if tricks.cutout is not None and tricks.cutout.p > 0:
        transforms.insert(len(steps) - 1, Cutout(tricks.cutout))
    return transforms


class AugmentedYOLODataset(YOLODataset):
    """A ``YOLODataset`` whose training pipeline carries our augmentations (see ``attach``)."""

    tricks: Tricks = Tricks()

    def build_transforms(self, hyp=None):
        transforms = super().build_transforms(hyp)
        if self.augment:
            install(transforms, self.tricks, self.imgsz, rect=self.rect)
        return transforms


def attach(dataset: YOLODataset, tricks: Tricks) -> YOLODataset:
    """Give a built ``YOLODataset`` our augmentations (a no-op for validation datasets or when every trick is off).

    Raises TypeError for any other dataset class (multi-modal, grounding, ...): their pipelines differ.
    """
    if not dataset.augment or not tricks.any:
        return dataset
    if type(dataset) not in (YOLODataset, AugmentedYOLODataset):
        raise TypeError(f"yolo-ext augment: cutout / square_crop support ultralytics' YOLODataset, not "
                        f"{type(dataset).__name__}")
    if type(dataset) is YOLODataset:
        transforms = dataset.transforms
        dataset.__class__ = AugmentedYOLODataset  # same layout; only build_transforms differs
        dataset.tricks = tricks
        install(transforms, tricks, dataset.imgsz, rect=dataset.rect)
    return dataset
