"""PCK@t: fraction of keypoints within ``t * max(w, h)`` of the reference.

Reported beside OKS for teams that publish PCK. The normalizer is the
reference box's longer side (PCK with bbox normalization, as in MPII-style
evaluations of detection boxes): scale-aware like OKS, but a hard threshold
with the same tolerance for every keypoint.
"""

from __future__ import annotations

import numpy as np

from .batch import InstanceBatch

__all__ = ["compute_pck", "pair_pck"]


def compute_pck(ref_xy, ref_v, ref_bbox, other_xy, other_v=None, threshold: float = 0.1):
    """PCK of ``other`` against ``ref``, per instance and per keypoint.

    Parameters
    ----------
    ref_xy, other_xy : array_like, shape (..., K, 2)
    ref_v : array_like, shape (..., K)
        Keypoints unlabeled in the reference do not count.
    ref_bbox : array_like, shape (..., 4)
        ``[x, y, w, h]``; the tolerance is ``threshold * max(w, h)``.
    other_v : array_like, shape (..., K), optional
        If given, a keypoint ``other`` left unlabeled is incorrect.
    threshold : float

    Returns
    -------
    pck : ndarray, shape (...)
        Fraction correct over the reference's labeled keypoints; NaN if none.
    correct : ndarray, shape (..., K), float
        1 correct, 0 incorrect, NaN not counted.
    """
    ref_xy = np.asarray(ref_xy, dtype=np.float64)
    other_xy = np.asarray(other_xy, dtype=np.float64)
    bb = np.asarray(ref_bbox, dtype=np.float64)
    tol = threshold * np.maximum(bb[..., 2], bb[..., 3])
    d = other_xy - ref_xy
    ok = np.hypot(d[..., 0], d[..., 1]) <= tol[..., None]
    if other_v is not None:
        ok &= np.asarray(other_v) > 0
    counted = np.asarray(ref_v) > 0
    correct = np.where(counted, ok.astype(np.float64), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        pck = np.where(counted, ok, False).sum(-1) / counted.sum(-1)
    return pck, correct


def pair_pck(batch: InstanceBatch, ref, other, threshold: float = 0.1, *,
             ref_batch: InstanceBatch | None = None) -> np.ndarray:
    """PCK@t for a list of pairs: ``other`` (in ``batch``) against ``ref``.

    Parameters
    ----------
    batch : InstanceBatch
    ref : array_like, shape (P,), int
        Positions into ``ref_batch`` (default ``batch``), e.g. consensus.
    other : array_like, shape (P,), int
        Positions into ``batch``.
    threshold : float

    Returns
    -------
    pck : ndarray, shape (P,); NaN where the reference labeled nothing
    """
    rb = batch if ref_batch is None else ref_batch
    ref = np.asarray(ref, dtype=np.int64)
    other = np.asarray(other, dtype=np.int64)
    bb = rb.bbox[ref]
    tol = threshold * np.maximum(bb[:, 2], bb[:, 3])
    dx = batch.x[other] - rb.x[ref]
    dy = batch.y[other] - rb.y[ref]
    counted = rb.labeled[ref]
    ok = (dx * dx + dy * dy <= (tol * tol)[:, None]) & batch.labeled[other] & counted
    with np.errstate(invalid="ignore", divide="ignore"):
        return ok.sum(1) / counted.sum(1)
