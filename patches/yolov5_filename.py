"""Seam: ``ultralytics.utils.checks.check_yolov5u_filename`` (looked up through the ``checks`` module by
``check_file`` and by ``downloads.attempt_download_asset``, hence by every checkpoint load).

Upstream rewrites any name like ``yolov5n.pt`` (no ``u``) to ``yolov5nu.pt``, even for an existing local file, and then
downloads the anchor-free YOLOv5u (offline: a ConnectionError). An existing local file is used as given; names that
are not local files keep upstream's rewrite."""

import os

from ._util import replace

TARGETS = [("ultralytics.utils.checks", "check_yolov5u_filename", ("file", "verbose"))]
RELIES_ON = [
    ("ultralytics.utils.checks", "check_file", "file = check_yolov5u_filename(file)"),
    ("ultralytics.utils.downloads", "attempt_download_asset", "checks.check_yolov5u_filename("),
]


def apply():
    def make(original):
        def check_yolov5u_filename(file, verbose=True):
            if os.path.isfile(str(file)):
                return file
            return original(file, verbose)

        return check_yolov5u_filename

    return replace("ultralytics.utils.checks", "check_yolov5u_filename", make)
