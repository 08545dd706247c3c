"""Model keypoints -> skeleton keypoints with COCO visibility.

The mapping is an index per skeleton keypoint into the model's outputs
(-1: the model does not predict it, so it comes out v=0). A mapped keypoint
is v=2 when its score reaches the threshold, else `below_visibility`
(1: "labeled but unsure", shown to the annotator; 0: dropped). A point
outside the image cannot be labeled there and is dropped too. v=0 points
are stored at (0, 0), as COCO wants.
"""

from __future__ import annotations

import numpy as np


def mapping_index(skeleton_names, model_names, mapping: dict[str, str]) -> np.ndarray:
    """(Ks,) int: for each skeleton keypoint the index of the model output it takes, or -1."""
    position = {name: i for i, name in enumerate(model_names)}
    return np.array([position.get(mapping.get(name, ""), -1) for name in skeleton_names], dtype=np.int64)


def to_skeleton(
    keypoints: np.ndarray, scores: np.ndarray, index: np.ndarray, *, threshold: float, below_visibility: int,
    width: float, height: float,
) -> tuple[np.ndarray, np.ndarray]:
    """keypoints (N, Km, 2), scores (N, Km) -> COCO keypoints (N, Ks, 3) [x, y, v] and scores (N, Ks)."""
    n, ks = len(keypoints), len(index)
    mapped = index >= 0
    src = np.where(mapped, index, 0)
    xy = np.asarray(keypoints, dtype=np.float64)[:, src] if n else np.zeros((0, ks, 2))
    sc = np.where(mapped[None, :], np.asarray(scores, dtype=np.float64)[:, src], 0.0) if n else np.zeros((0, ks))
    sc = np.nan_to_num(sc)
    inside = (
        np.isfinite(xy).all(axis=2) & (xy[..., 0] >= 0) & (xy[..., 1] >= 0)
        & (xy[..., 0] <= width) & (xy[..., 1] <= height)
    )
    v = np.where(sc >= threshold, 2, below_visibility)
    v = np.where(mapped[None, :] & inside, v, 0)
    xy = np.where(v[..., None] > 0, xy, 0.0)
    return np.concatenate([xy, v[..., None].astype(np.float64)], axis=2), sc


def boxes_for(boxes: np.ndarray, coco_keypoints: np.ndarray, width: float, height: float) -> np.ndarray:
    """Boxes (N, 4): the given ones, or where a row is NaN the labeled keypoints' extent; clipped to the image."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    missing = ~np.isfinite(boxes).all(axis=1)
    if missing.any():
        kp = coco_keypoints[missing]
        labeled = kp[..., 2] > 0
        big, small = np.where(labeled[..., None], kp[..., :2], np.inf), np.where(labeled[..., None], kp[..., :2], -np.inf)
        lo, hi = big.min(axis=1), small.max(axis=1)
        none = ~labeled.any(axis=1)
        lo[none], hi[none] = 0.0, 0.0
        boxes[missing] = np.concatenate([lo, hi - lo], axis=1)
    x0 = np.clip(boxes[:, 0], 0, width)
    y0 = np.clip(boxes[:, 1], 0, height)
    x1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, width)
    y1 = np.clip(boxes[:, 1] + boxes[:, 3], 0, height)
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)


def instance_scores(scores: np.ndarray, index: np.ndarray) -> np.ndarray:
    """(N,) instance scores: the mean score of the keypoints the model predicts (unmapped ones don't count)."""
    mapped = index >= 0
    if not mapped.any() or not len(scores):
        return np.zeros(len(scores))
    return np.asarray(scores, dtype=np.float64)[:, mapped].mean(axis=1)
