"""Top-down crops: a box, padded and fixed to the network's aspect ratio, warped to the input size.

The crop is one affine map ``image -> input`` (a 2x3 matrix); keypoints found
in input (or heatmap) coordinates come back to the image through its exact
inverse, so a point survives the round trip to float precision.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def box_to_center_scale(boxes: np.ndarray, aspect: float, padding: float) -> tuple[np.ndarray, np.ndarray]:
    """Centers (N, 2) and crop sizes (N, 2) [w, h] for boxes (N, 4) [x, y, w, h].

    The box is grown to the input's aspect ratio (w / h = `aspect`) around its
    center, then scaled by `padding` (1.25 is the HRNet / ViTPose / RTMPose habit).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    w = np.maximum(boxes[:, 2], 1.0)
    h = np.maximum(boxes[:, 3], 1.0)
    center = np.stack([boxes[:, 0] + w / 2, boxes[:, 1] + h / 2], axis=1)
    wider = w > aspect * h
    h = np.where(wider, w / aspect, h)
    w = np.where(wider, w, h * aspect)
    return center, np.stack([w, h], axis=1) * padding


def crop_matrices(center: np.ndarray, size: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """Affine maps (N, 2, 3) taking image pixels into the out_w x out_h crop.

    Pixel centers are at integer coordinates; the crop's box edge maps to the
    input's edge (-0.5 .. out-0.5), axis-aligned, so each map is a scale and a shift.
    """
    center = np.asarray(center, dtype=np.float64).reshape(-1, 2)
    size = np.asarray(size, dtype=np.float64).reshape(-1, 2)
    sx = out_w / size[:, 0]
    sy = out_h / size[:, 1]
    m = np.zeros((len(center), 2, 3))
    m[:, 0, 0] = sx
    m[:, 1, 1] = sy
    m[:, 0, 2] = (out_w - 1) / 2 - sx * center[:, 0]
    m[:, 1, 2] = (out_h - 1) / 2 - sy * center[:, 1]
    return m


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverses (N, 2, 3) of affine maps (N, 2, 3)."""
    m = np.asarray(m, dtype=np.float64)
    a = m[:, :, :2]
    inv_a = np.linalg.inv(a)
    inv_t = -np.einsum("nij,nj->ni", inv_a, m[:, :, 2])
    return np.concatenate([inv_a, inv_t[:, :, None]], axis=2)


def apply_affine(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (N, K, 2) mapped by affine maps (N, 2, 3)."""
    points = np.asarray(points, dtype=np.float64)
    return np.einsum("nij,nkj->nki", m[:, :, :2], points) + m[:, None, :, 2]


def warp_crops(image: np.ndarray, matrices: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """Crops (N, out_h, out_w, 3) uint8 of `image` (H, W, 3) through `matrices` (N, 2, 3), bilinear, zero outside."""
    pil = Image.fromarray(np.ascontiguousarray(image))
    crops = np.empty((len(matrices), out_h, out_w, 3), dtype=np.uint8)
    # PIL samples the source at inverse(M) applied to each output pixel center;
    # its pixel centers sit at +0.5, ours at integers, hence the half-pixel shifts.
    shift_in = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    shift_out = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    for n, inv in enumerate(invert_affine(matrices)):
        full = shift_out @ np.vstack([inv, [0, 0, 1]]) @ shift_in
        crops[n] = np.asarray(
            pil.transform((out_w, out_h), Image.Transform.AFFINE, tuple(full[:2].ravel()), Image.Resampling.BILINEAR)
        )
    return crops
