"""Seam: ``ultralytics.engine.model.Model._smart_load`` (where the stock front end reads ``task_map`` to pick the
model class when building from a YAML, and the trainer / validator / predictor when training, validating or
predicting).

Upstream's ``YOLO.task_map`` maps every detection model to the plain ``DetectionModel`` / ``DetectionTrainer`` /
``DetectionValidator``: ``YOLO("models/face-vgg-fpn.yaml")`` then builds a model whose ``fuse()`` leaves the RepVGG
branches and whose loss is the anchor-free one, ``.train()`` dies in ultralytics' loss and ``YOLO("best.pt").train()``
in its head code. With this seam, a front-end object whose model (or, while the model is being built from a YAML,
whose YAML) ``claims`` accepts (yolo-ext hands it: the head is ``AnchorDetect``) takes its classes from
``task_map()`` (yolo-ext's ``AnchorYOLO.task_map``); every other model keeps upstream's choice. Nothing here imports
``yolo_ext``."""

from ._util import replace

TARGETS = [("ultralytics.engine.model", "Model._smart_load", ("self", "key"))]
RELIES_ON = [
    ("ultralytics.engine.model", "Model._new", 'self.cfg = cfg\n        self.task = task or guess_model_task(cfg_dict)\n'
                                               '        self.model = self._smart_load("model")'),
    ("ultralytics.engine.model", "Model.train", 'self._smart_load("trainer")'),
    ("ultralytics.engine.model", "Model.val", 'self._smart_load("validator")'),
    ("ultralytics.engine.model", "Model._smart_load", "return self.task_map[self.task][key]"),
]


def apply(claims=None, task_map=None):
    """Route front-end objects with ``claims(obj)`` true to ``task_map()["detect"]``; without both, left as is."""
    if claims is None or task_map is None:
        return None

    def make(original):
        def _smart_load(self, key):
            if claims(self):
                return task_map()["detect"][key]
            return original(self, key)

        return _smart_load

    return replace("ultralytics.engine.model", "Model._smart_load", make)
