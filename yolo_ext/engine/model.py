"""The anchor-based detection model and its inference front end (``AnchorYOLO`` adds training: ``engine/yolo.py``).

``AnchorDetectionModel`` is an ultralytics ``DetectionModel`` whose head is ``AnchorDetect``: strides and bias init
come from the stock constructor (it runs for any ``Detect`` subclass), the loss is our YOLOv5 criterion, and
``fuse()`` first drops the training-only auxiliary head and folds re-parameterisable training blocks (any module
with ``reparameterize()``) so the stock Conv+BN fusion and every exporter see the plain deploy graph.
"""

from __future__ import annotations

from ultralytics.engine.model import Model
from ultralytics.models import yolo
from ultralytics.nn.tasks import DetectionModel

from ultralytics.utils import LOGGER
from ultralytics.utils.torch_utils import intersect_dicts

from ..criterion import AuxCriterion, YOLOv5Criterion
from ..nn.head import AnchorDetect
from .validator import AnchorValidator
from .wider_protocols import tta_predict


class AnchorDetectionModel(DetectionModel):
    """YOLOv5-style anchor-based detector built from a yolo-ext model YAML (head ``AnchorDetect``)."""

    def __init__(self, cfg="yolov5n.yaml", ch=3, nc=None, verbose=True):
        super().__init__(cfg, ch=ch, nc=nc, verbose=verbose)
        if not isinstance(self.model[-1], AnchorDetect):
            raise ValueError(f"{self.yaml.get('yaml_file', cfg)}: AnchorDetectionModel needs an AnchorDetect head")
        self.model[-1].check_anchor_order()
        aux = self.yaml.get("aux_head", False)  # `aux_head: true` in the model YAML (or the trainer's aux_head key)
        if not isinstance(aux, bool):
            raise ValueError(f"{self.yaml.get('yaml_file', cfg)}: aux_head must be true or false, got {aux!r}")
        if aux:
            self.add_aux_head()

    @property
    def head(self) -> AnchorDetect:
        return self.model[-1]

    def add_aux_head(self) -> bool:
        """Add the training-only auxiliary head (``AnchorDetect.add_aux``); True if added. ``fuse()`` drops it."""
        self.criterion = None  # rebuilt with the auxiliary loss on the next loss() call
        return self.head.add_aux()

    def init_criterion(self):
        """YOLOv5 criterion; with an auxiliary head, wrapped so the total adds ``aux_weight`` x its loss."""
        return AuxCriterion(self) if self.head.has_aux else YOLOv5Criterion(self)

    def load(self, weights, verbose=True, backbone_only=False) -> int:
        """Transfer every tensor whose name and shape match (a checkpoint dict's ema first, a model or a state dict).

        Stock ``BaseModel.load`` assumes the anchor-free head layout (``cv2[i][0].conv``) and cannot be used for
        AnchorDetect. What did not load is logged by name. If the head's prediction convs or its ``anchor_px`` did not
        load (another nc, another head layout such as YOLOv5's ``m.*``), this raises instead of leaving the head at
        random init, unless ``backbone_only`` says that transferring the rest is the intent (``--set transfer=backbone``).
        A YOLOv5 checkpoint is converted first (``python -m yolo_ext.convert yolov5``; ``--weights`` does it in memory).

        Returns:
            the number of tensors transferred.
        Raises:
            ValueError: naming the counts and the head tensors that did not load.
        """
        src = (weights.get("ema") or weights["model"]) if isinstance(weights, dict) and "model" in weights else weights
        sd = src.float().state_dict() if hasattr(src, "state_dict") else {k: v.float() if v.is_floating_point() else v
                                                                          for k, v in src.items()}
        mine = self.state_dict()
        csd = intersect_dicts(sd, mine)
        missing = [k for k in mine if k not in csd]
        head = f"model.{len(self.model) - 1}."
        # the training-only auxiliary head (model.N.aux.*) may start from scratch: only the lead head must load
        head_missing = [k for k in missing if k.startswith(head) and not k.startswith(f"{head}aux.")]
        msg = f"Transferred {len(csd)}/{len(mine)} items from pretrained weights"
        if head_missing and not backbone_only:
            raise ValueError(f"{msg}; the detection head did not load ({', '.join(head_missing)}): it would stay at "
                             "random init. A YOLOv5 checkpoint: convert it (python -m yolo_ext.convert yolov5 IN OUT) "
                             "or pass it as --weights; another nc or anchor count: a backbone-only transfer must be "
                             "asked for (--set transfer=backbone, or load(..., backbone_only=True))")
        self.load_state_dict(csd, strict=False)
        if verbose:
            LOGGER.info(msg + (f"; not loaded ({len(missing)}): {', '.join(missing[:8])}"
                               f"{' ...' if len(missing) > 8 else ''}" if missing else ""))
        return len(csd)

    def _predict_augment(self, x):
        """``augment=True`` (predict, val): YOLOv5's test-time augmentation, see ``wider_protocols.tta_predict``
        (the stock implementation serves the anchor-free ``Detect`` head only)."""
        return tta_predict(self, x), None

    def reparameterize(self) -> int:
        """Fold multi-branch training blocks into their plain deploy form; returns how many were folded."""
        n = 0
        for m in list(self.modules()):
            if m is not self and hasattr(m, "reparameterize"):
                n += bool(m.reparameterize())
        return n

    def fuse(self, verbose=True, imgsz=640):
        """Drop the auxiliary head, re-parameterise training blocks, then the stock Conv+BN fusion."""
        if self.head.drop_aux():
            self.criterion = None
        self.reparameterize()
        return super().fuse(verbose=verbose, imgsz=imgsz)


class InferenceYOLO(Model):
    """The prediction / validation / export half of ``AnchorYOLO`` (no trainer): ``InferenceYOLO("best.pt").predict(...)``.

    Lower layers (the WIDER evaluation run by the trainer's own callback) use it, so they need not import the trainer.
    """

    def __init__(self, model="models/yolov5n.yaml", task="detect", verbose=False):
        super().__init__(model=model, task=task, verbose=verbose)

    @property
    def task_map(self):
        return {"detect": {"model": AnchorDetectionModel, "validator": AnchorValidator,
                           "predictor": yolo.detect.DetectionPredictor}}
