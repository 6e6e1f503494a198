"""Command-line front ends: the argument parsers and mains behind ``train.py``, ``val.py`` and every
``python -m yolo_ext.X`` (``anchors``, ``export``, ``viz``, ``widerface``, ``ablate``, ``tune``). The top layer: nothing
below imports it. Library code raises exceptions; only these mains turn them into exit codes."""
