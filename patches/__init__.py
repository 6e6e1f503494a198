"""The only code that reaches into ultralytics internals: one seam per module.

Installed as the top-level package ``yolo_ext_patches`` (the folder is ``patches/``; a generic top-level name would
collide with other projects' ``patches``). Each module names the upstream symbols it touches (``TARGETS``: module,
attribute, expected parameter names) and has an idempotent ``apply()``. Nothing here imports ``yolo_ext``: what a
seam needs from it (the anchor-model parser, the atomic-write helper) is handed to :func:`apply`. ``tests/patches``
asserts every target still exists with that signature, and every other upstream detail a seam leans on
(``RELIES_ON``: a snippet of upstream source) is still there, so an ultralytics upgrade fails loudly instead of
silently skipping a patch.
"""

from . import (amp_check, foreign_checkpoint, image_open, offline_font, offline_state, parse_model, strip_optimizer,
               yolo_front_end, yolov5_filename)

PATCHES = (parse_model, offline_font, amp_check, strip_optimizer, foreign_checkpoint, yolov5_filename, yolo_front_end,
           image_open, offline_state)


def apply(anchor_model_claims=None, anchor_model_builder=None, atomic_path=None, foreign_checkpoint_reader=None,
          front_end=None) -> None:
    """Apply every patch (safe to call any number of times; a seam whose helper is not given is left as it is).

    Args:
        anchor_model_claims: ``(model_dict) -> bool``, True for model dicts the yolo-ext parser builds.
        anchor_model_builder: ``(model_dict, ch, verbose) -> (nn.Sequential, save)``, that parser.
        atomic_path: ``(path) -> context manager`` yielding a temporary path that replaces ``path`` on success
            (``yolo_ext.utils.files.atomic_path``), for the checkpoint writes of ``strip_optimizer``.
        foreign_checkpoint_reader: ``(claims(path) -> bool, read(path) -> ckpt dict)``: checkpoints ultralytics
            cannot read that yolo-ext converts (YOLOv5's), for ``torch_safe_load``.
        front_end: ``(claims(model_front_end) -> bool, task_map() -> dict)``: stock ``YOLO`` objects whose model is
            yolo-ext's and the classes to use for them, for ``Model._smart_load``.
    """
    parse_model.apply(anchor_model_claims, anchor_model_builder)
    offline_font.apply()
    amp_check.apply()
    strip_optimizer.apply(atomic_path)
    yolov5_filename.apply()
    foreign_checkpoint.apply(*(foreign_checkpoint_reader or (None, None)))
    yolo_front_end.apply(*(front_end or (None, None)))
    image_open.apply()
    offline_state.apply()


def targets():
    """All (module, attribute, expected parameter names) that the patches touch."""
    return [t for p in PATCHES for t in p.TARGETS]


def relies_on():
    """All (module, attribute, source snippet): upstream details the patches lean on without replacing them."""
    return [t for p in PATCHES for t in getattr(p, "RELIES_ON", ())]
