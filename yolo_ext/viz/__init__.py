"""Figures for papers: label assignment per level (``assign``) and objectness heatmaps (``heatmap``).

    python -m yolo_ext.viz assign --assigner radius+ignore --image IMG --cfg yolov5n.yaml --out a.png
    python -m yolo_ext.viz heatmap --weights best.pt --image IMG --out h.png

Pure helpers (no rendering): :func:`assignment_cells`, :func:`ignored_cells`, :func:`unique_cells`,
:func:`score_maps`, :func:`detections`; I/O: :func:`read_labels`, :func:`letterbox`, :func:`letterbox_labels`.
"""

from .assign import CellAssignment, LevelCells, assignment_cells, draw_assignment, ignored_cells, unique_cells
from .common import letterbox, letterbox_labels, read_labels, save_figure
from .heatmap import detections, draw_heatmap, score_maps

__all__ = [
    "CellAssignment",
    "LevelCells",
    "assignment_cells",
    "draw_assignment",
    "ignored_cells",
    "unique_cells",
    "letterbox",
    "letterbox_labels",
    "read_labels",
    "save_figure",
    "detections",
    "draw_heatmap",
    "score_maps",
]
