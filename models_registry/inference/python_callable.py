"""The `python` runtime: a site's own code, named by an admin as a dotted path.

Protocol. The dotted path names a factory::

    def make_predictor(weights: dict | None, options: dict) -> predict

called once per job, where `weights` is the version's uploaded state dict
(loaded with ``torch.load(weights_only=True)``; None when nothing was
uploaded) and `options` the version's JSON options. It returns::

    def predict(images: list[np.ndarray], boxes: list[np.ndarray | None]) -> list[dict]

`images` are (H, W, 3) uint8 RGB; `boxes` per image None or (N, 4) [x, y, w, h].
One dict per image: ``keypoints`` (N, K, 2) in image pixels, ``scores`` (N, K),
and optionally ``boxes`` (N, 4) (else the given boxes, or the keypoints' extent).
K must equal the number of output keypoint names declared on the version.

Only an admin can set the path, and only code already installed on the
worker runs: nothing is imported from an upload.
"""

from __future__ import annotations

from importlib import import_module
from typing import Callable, Sequence

import numpy as np

from .base import DryRunReport, ModelLoadError, Prediction


def resolve(dotted_path: str) -> Callable:
    module_path, _, name = dotted_path.rpartition(".")
    if not module_path:
        raise ModelLoadError(f"'{dotted_path}' is not a dotted path like package.module.make_predictor.",
                             "callable_path")
    try:
        return getattr(import_module(module_path), name)
    except (ImportError, AttributeError) as exc:
        raise ModelLoadError(f"Cannot import '{dotted_path}': {exc}.", "callable_path") from exc


class PythonRuntime:
    has_detector = True  # the callable may find objects itself when boxes are None

    def __init__(self, predict: Callable, keypoint_names: Sequence[str]):
        self._predict = predict
        self.keypoint_names = tuple(keypoint_names)

    def predict(self, images, boxes=None) -> list[Prediction]:
        boxes = boxes if boxes is not None else [None] * len(images)
        results = self._predict(list(images), list(boxes))
        if not isinstance(results, (list, tuple)) or len(results) != len(images):
            raise ValueError(f"The predictor returned {type(results).__name__} for {len(images)} images; "
                             "expected a list with one dict per image.")
        k = len(self.keypoint_names)
        out = []
        for result, given in zip(results, boxes):
            kps = np.asarray(result.get("keypoints", []), dtype=np.float64)
            kps = kps.reshape(0, k, 2) if kps.size == 0 else kps
            if kps.ndim != 3 or kps.shape[1:] != (k, 2):
                raise ValueError(f"The predictor returned keypoints of shape {kps.shape}; "
                                 f"expected (N, {k}, 2) for the {k} declared keypoints.")
            scores = np.asarray(result.get("scores", np.ones(kps.shape[:2])), dtype=np.float64).reshape(-1, k)
            if "boxes" in result:
                bx = np.asarray(result["boxes"], dtype=np.float64).reshape(-1, 4)
            elif given is not None and len(given) == len(kps):
                bx = np.asarray(given, dtype=np.float64).reshape(-1, 4)
            else:
                bx = np.full((len(kps), 4), np.nan)  # the caller derives them from the keypoints
            out.append(Prediction(bx, kps, scores))
        return out

    def dry_run(self) -> DryRunReport:
        blank = np.zeros((256, 192, 3), dtype=np.uint8)
        try:
            result = self.predict([blank], [np.array([[0.0, 0.0, 192.0, 256.0]])])[0]
        except (ValueError, KeyError, TypeError) as exc:
            return DryRunReport(problem=f"The predictor failed on a blank image: {exc}")
        return DryRunReport(output_shapes=[result.keypoints.shape, result.scores.shape])
