"""Runtimes around a tensor network (TorchScript, ONNX): crop, normalize, run, decode, map back.

The network-specific part is one function, ``forward(batch) -> outputs``:
batch is (B, 3, input_h, input_w) float32, outputs a list of arrays as the
network returns them. Everything else (top-down crops, normalization,
decoding, the inverse warp) is shared here.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .base import TOP_DOWN, Decoding, DryRunReport, Prediction, Preprocessing
from .decoding import decode, output_shape_problem
from .geometry import apply_affine, box_to_center_scale, crop_matrices, invert_affine, warp_crops

Forward = Callable[[np.ndarray], list[np.ndarray]]


class TensorRuntime:
    has_detector = False

    def __init__(self, forward: Forward, keypoint_names: Sequence[str], preprocessing: Preprocessing,
                 decoding: Decoding, batch_size: int = 64):
        self.forward = forward
        self.keypoint_names = tuple(keypoint_names)
        self.pre = preprocessing
        self.decoding = decoding
        self.batch_size = batch_size
        mean = np.asarray(preprocessing.mean, dtype=np.float32)
        std = np.asarray(preprocessing.std, dtype=np.float32)
        self._mean, self._inv_std = mean.reshape(1, 3, 1, 1), (1.0 / std).reshape(1, 3, 1, 1)

    def to_tensor(self, crops: np.ndarray) -> np.ndarray:
        """Crops (B, h, w, 3) uint8 RGB -> (B, 3, h, w) float32, normalized, in the network's channel order."""
        batch = crops.transpose(0, 3, 1, 2).astype(np.float32)
        if self.pre.channel_order == "bgr":
            batch = batch[:, ::-1]
        return np.ascontiguousarray((batch - self._mean) * self._inv_std)

    def _regions(self, image: np.ndarray, boxes: np.ndarray | None) -> np.ndarray:
        """Where to look: the given boxes (none: nothing to label), or the whole image."""
        if boxes is None or self.pre.mode != TOP_DOWN:
            h, w = image.shape[:2]
            return np.array([[0.0, 0.0, w, h]])
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)

    def predict(self, images, boxes=None) -> list[Prediction]:
        boxes = boxes if boxes is not None else [None] * len(images)
        pre = self.pre
        aspect = pre.input_w / pre.input_h
        crops, matrices, owners, regions = [], [], [], []
        for n, (image, image_boxes) in enumerate(zip(images, boxes)):
            region = self._regions(image, image_boxes)
            whole = pre.mode != TOP_DOWN or image_boxes is None
            center, size = box_to_center_scale(region, aspect, 1.0 if whole else pre.padding)
            m = crop_matrices(center, size, pre.input_w, pre.input_h)
            crops.append(warp_crops(image, m, pre.input_w, pre.input_h))
            matrices.append(m)
            owners += [n] * len(region)
            regions.append(region)
        crops_all, m_all = np.concatenate(crops), np.concatenate(matrices)
        k = len(self.keypoint_names)
        xy_all, score_all = [np.zeros((0, k, 2))], [np.zeros((0, k))]
        for start in range(0, len(crops_all), self.batch_size):
            batch = crops_all[start:start + self.batch_size]
            outputs = self.forward(self.to_tensor(batch))
            problem = output_shape_problem(outputs, self.decoding.kind, len(batch), k, pre.input_w, pre.input_h,
                                           self.decoding.split_ratio)
            if problem:
                raise ValueError(problem)
            xy, scores = decode(outputs, self.decoding.kind, pre.input_w, pre.input_h,
                                split_ratio=self.decoding.split_ratio, normalized=self.decoding.normalized)
            xy_all.append(xy)
            score_all.append(scores)
        xy = apply_affine(invert_affine(m_all), np.concatenate(xy_all))
        scores = np.concatenate(score_all)
        owners_arr = np.asarray(owners)
        return [
            Prediction(regions[n], xy[owners_arr == n], scores[owners_arr == n]) for n in range(len(images))
        ]

    def dry_run(self) -> DryRunReport:
        """Run one blank input and compare the output shapes with the declared keypoints and decoding."""
        pre = self.pre
        blank = self.to_tensor(np.zeros((1, pre.input_h, pre.input_w, 3), dtype=np.uint8))
        outputs = self.forward(blank)
        return DryRunReport(
            output_shapes=[tuple(np.shape(o)) for o in outputs],
            problem=output_shape_problem(outputs, self.decoding.kind, 1, len(self.keypoint_names),
                                         pre.input_w, pre.input_h, self.decoding.split_ratio),
        )
