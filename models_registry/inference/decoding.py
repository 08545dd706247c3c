"""Turn network outputs into keypoints (in network-input pixels) and scores.

Three output conventions cover the common pose exports:

- heatmaps (B, K, h, w): the argmax, refined to sub-pixel precision by a
  parabola through the log of the peak and its two neighbours on each axis.
  A Gaussian's log is exactly a parabola, so a Gaussian peak is recovered
  exactly (DARK, Zhang et al. 2020, uses the same observation with a full
  2-D Taylor step); the score is the peak value.
- SimCC (B, K, Wx) and (B, K, Hy): two 1-D classifications per keypoint
  (RTMPose), bins `split_ratio` per input pixel, refined the same way; the
  score is the smaller of the two peaks.
- coordinates (B, K, 2) or (B, K, 3): x, y (and a score) directly, in input
  pixels or normalized to 0..1.
"""

from __future__ import annotations

import numpy as np

HEATMAP, SIMCC, COORDINATES = "heatmap", "simcc", "coordinates"
_EPS = 1e-10


def _parabola_offset(left: np.ndarray, peak: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Sub-bin offset in [-0.5, 0.5] of a parabola's vertex through log values at -1, 0, +1."""
    l, p, r = (np.log(np.maximum(v, _EPS)) for v in (left, peak, right))
    curvature = l - 2 * p + r
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(curvature < 0, 0.5 * (l - r) / curvature, 0.0)
    return np.clip(np.nan_to_num(offset), -0.5, 0.5)


def decode_heatmaps(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (B, K, h, w) -> keypoints (B, K, 2) in heatmap pixels, scores (B, K)."""
    heatmaps = np.asarray(heatmaps, dtype=np.float64)
    b, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, k, -1)
    idx = flat.argmax(axis=2)
    scores = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0]
    y, x = np.divmod(idx, w)
    bi, ki = np.meshgrid(np.arange(b), np.arange(k), indexing="ij")

    def at(yy, xx):
        return heatmaps[bi, ki, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]

    inner_x = (x > 0) & (x < w - 1)
    inner_y = (y > 0) & (y < h - 1)
    dx = np.where(inner_x, _parabola_offset(at(y, x - 1), scores, at(y, x + 1)), 0.0)
    dy = np.where(inner_y, _parabola_offset(at(y - 1, x), scores, at(y + 1, x)), 0.0)
    return np.stack([x + dx, y + dy], axis=2), scores


def _decode_1d(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, K, n) -> refined bin (B, K), peak value (B, K)."""
    n = logits.shape[2]
    idx = logits.argmax(axis=2)
    peak = np.take_along_axis(logits, idx[..., None], axis=2)[..., 0]
    left = np.take_along_axis(logits, np.clip(idx - 1, 0, n - 1)[..., None], axis=2)[..., 0]
    right = np.take_along_axis(logits, np.clip(idx + 1, 0, n - 1)[..., None], axis=2)[..., 0]
    inner = (idx > 0) & (idx < n - 1) & (peak > 0)
    offset = np.where(inner, _parabola_offset(left, peak, right), 0.0)
    return idx + offset, peak


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """SimCC vectors (B, K, Wx), (B, K, Hy) -> keypoints (B, K, 2) in input pixels, scores (B, K)."""
    x, sx = _decode_1d(np.asarray(simcc_x, dtype=np.float64))
    y, sy = _decode_1d(np.asarray(simcc_y, dtype=np.float64))
    return np.stack([x, y], axis=2) / split_ratio, np.minimum(sx, sy)


def decode_coordinates(
    coords: np.ndarray, input_w: int, input_h: int, normalized: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (B, K, 2|3) -> keypoints (B, K, 2) in input pixels, scores (B, K) (1 when not given)."""
    coords = np.asarray(coords, dtype=np.float64)
    xy = coords[..., :2].copy()
    if normalized:
        xy *= np.array([input_w, input_h], dtype=np.float64)
    scores = coords[..., 2] if coords.shape[-1] > 2 else np.ones(coords.shape[:2])
    return xy, scores


def expected_output_shapes(
    decoding: str, num_keypoints: int, input_w: int, input_h: int, split_ratio: float,
) -> str:
    """A human description of what the network must return, for error messages."""
    if decoding == HEATMAP:
        return f"one array (batch, {num_keypoints}, h, w) of heatmaps"
    if decoding == SIMCC:
        return (f"two arrays (batch, {num_keypoints}, {round(input_w * split_ratio)}) and "
                f"(batch, {num_keypoints}, {round(input_h * split_ratio)})")
    return f"one array (batch, {num_keypoints}, 2 or 3) of coordinates"


def output_shape_problem(
    outputs: list[np.ndarray], decoding: str, batch: int, num_keypoints: int,
    input_w: int, input_h: int, split_ratio: float,
) -> str | None:
    """Why `outputs` do not fit the declared decoding and keypoint count, or None when they do."""
    shapes = [tuple(np.shape(o)) for o in outputs]
    want = expected_output_shapes(decoding, num_keypoints, input_w, input_h, split_ratio)
    got = ", ".join(str(s) for s in shapes) or "nothing"
    if decoding == HEATMAP:
        ok = len(shapes) >= 1 and len(shapes[0]) == 4 and shapes[0][:2] == (batch, num_keypoints)
    elif decoding == SIMCC:
        ok = (len(shapes) >= 2 and len(shapes[0]) == 3 and len(shapes[1]) == 3
              and shapes[0][:2] == (batch, num_keypoints) and shapes[1][:2] == (batch, num_keypoints)
              and shapes[0][2] > 1 and shapes[1][2] > 1)
    else:
        ok = (len(shapes) >= 1 and len(shapes[0]) == 3 and shapes[0][:2] == (batch, num_keypoints)
              and shapes[0][2] in (2, 3))
    if ok:
        return None
    return f"The model returned {got}; {num_keypoints} declared keypoints and {decoding} decoding need {want}."


def decode(
    outputs: list[np.ndarray], decoding: str, input_w: int, input_h: int, *,
    split_ratio: float = 2.0, normalized: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Network outputs -> keypoints (B, K, 2) in input pixels and scores (B, K)."""
    if decoding == HEATMAP:
        heatmaps = np.asarray(outputs[0])
        xy, scores = decode_heatmaps(heatmaps)
        h, w = heatmaps.shape[2:]
        # A heatmap pixel covers input_w / w input pixels; pixel centers align.
        scale = np.array([input_w / w, input_h / h])
        return (xy + 0.5) * scale - 0.5, scores
    if decoding == SIMCC:
        return decode_simcc(outputs[0], outputs[1], split_ratio)
    return decode_coordinates(outputs[0], input_w, input_h, normalized)
