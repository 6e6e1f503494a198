"""Seam: ultralytics' import-time online state. ``ultralytics.utils`` probes the network when it is first imported
(``ONLINE = is_online()``: DNS lookups of one.one.one.one / dns.google) unless ``YOLO_OFFLINE`` is set, and modules
keep copies of the result (``ultralytics.utils.checks.ONLINE``: the PyPI update check; ``ultralytics.utils.events``:
usage analytics sent during train/val, enabled once at import). ``yolo_ext`` sets ``YOLO_OFFLINE=1`` before its own
first ultralytics import, so normally nothing is probed; when a program imported ultralytics first without it, the
import-time probe has already happened (it cannot be undone from here), and this patch turns every later network use
off: the ``ONLINE`` copies become False and the analytics singleton is disabled."""

import os

import ultralytics.utils as ul_utils
from ultralytics.utils import checks, events

TARGETS = []  # module attributes, not functions: the upstream details are checked through RELIES_ON
RELIES_ON = [
    ("ultralytics.utils", "is_online", 'if env_bool("YOLO_OFFLINE")'),
    ("ultralytics.utils.checks", "check_pip_update_available", "if ONLINE and IS_PIP_PACKAGE"),
    ("ultralytics.utils.events", "Events", "and ONLINE"),
    ("ultralytics.utils.events", "Events", "if not self.enabled"),
]


def offline() -> bool:
    return os.environ.get("YOLO_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def apply():
    if offline():
        for mod in (ul_utils, checks, events):
            mod.ONLINE = False
        events.events.enabled = False
