"""Seam: ``ultralytics.nn.tasks.parse_model`` (looked up as a module global at call time by
``_initialize_yolo_model``). Model dicts that ``claims(d)`` accepts (yolo-ext's: head ends in ``AnchorDetect``) are
built by ``build(d, ch, verbose)``; every other model goes to the original unchanged, so stock models (e.g.
``yolov5nu.yaml``) are untouched. ``yolo_ext`` hands both functions to ``apply``: nothing here imports it."""

from ._util import replace

TARGETS = [("ultralytics.nn.tasks", "parse_model", ("d", "ch", "verbose"))]


def apply(claims=None, build=None):
    """Route model dicts with ``claims(d)`` true to ``build``; without them the seam is left as it is."""
    if claims is None or build is None:
        return None

    def make(original):
        def parse_model(d, ch, verbose=True):
            if claims(d):
                return build(d, ch, verbose)
            return original(d, ch, verbose)

        return parse_model

    return replace("ultralytics.nn.tasks", "parse_model", make)
