"""Object Keypoint Similarity: the COCO form and the symmetric annotator form.

Both are elementwise over broadcastable leading dimensions, so one call
scores a (D, G) matrix of one image (``ref[None]`` against ``other[:, None]``)
or a flat list of pairs across a whole project. `pair_oks` and
`pair_agreement` gather pairs from an `InstanceBatch` in cache-sized chunks,
which is how a project's millions of annotator pairs are scored in about a
second.

Notation: ``K`` keypoints, ``sigma`` per-keypoint constants, ``k = 2 sigma``,
``s**2`` object area, ``d`` distance between corresponding keypoints::

    oks = mean_i exp(-d_i**2 / (2 s**2 k_i**2))
"""

from __future__ import annotations

import numpy as np

from .batch import InstanceBatch
from .skeleton import as_sigmas

__all__ = ["compute_oks", "agreement_oks", "pair_oks", "pair_agreement", "box_iou"]

_EPS = np.spacing(1)  # pycocotools adds this to the area
_CHUNK = 1 << 14  # pairs per gathered chunk: ~4 MB of coordinates, stays in cache
_NEGLIGIBLE = -50.0  # exp(-50) ~ 2e-22: keypoint terms below it are not worth an exp


def compute_oks(ref_xy, ref_v, ref_area, other_xy, sigmas, ref_bbox=None) -> np.ndarray:
    """COCO OKS of ``other`` instances against ``ref`` (ground-truth-like) instances.

    This is ``pycocotools.cocoeval.COCOeval.computeOks`` made elementwise:
    the mean over keypoints labeled in the reference (``ref_v > 0``) of
    ``exp(-d**2 / (2 * area * (2 sigma)**2))``, with the reference's area. The
    other side's visibility is ignored (COCO detections have none), so an
    unlabeled keypoint of ``other`` sits at its stored coordinates (COCO:
    ``0, 0``) and scores ~0 against a labeled reference keypoint.

    A reference with no labeled keypoints cannot be scored by distance;
    pycocotools then measures how far each of ``other``'s keypoints lies
    outside the reference box enlarged to ``[x - w, x + 2w] x [y - h, y + 2h]``
    and averages over all ``K`` keypoints. That fallback needs ``ref_bbox``;
    without it such references score NaN. The arithmetic follows pycocotools
    operation by operation so results agree to rounding (tested to 1e-9
    against pycocotools itself).

    Parameters
    ----------
    ref_xy : array_like, shape (..., K, 2)
    ref_v : array_like, shape (..., K)
    ref_area : array_like, shape (...)
    other_xy : array_like, shape (..., K, 2)
    sigmas : array_like, shape (K,)
    ref_bbox : array_like, shape (..., 4), optional
        ``[x, y, w, h]`` of the reference, for the no-keypoint fallback.

    Returns
    -------
    oks : ndarray, shape (...)
        Leading dimensions broadcast; e.g. ``ref`` of shape (1, G, K, 2)
        against ``other`` of shape (D, 1, K, 2) gives pycocotools' (D, G)
        matrix.
    """
    ref_xy = np.asarray(ref_xy, dtype=np.float64)
    other_xy = np.asarray(other_xy, dtype=np.float64)
    k = ref_xy.shape[-2]
    var = (as_sigmas(sigmas, k) * 2) ** 2
    lead = np.broadcast_shapes(ref_xy.shape[:-2], other_xy.shape[:-2],
                               np.shape(ref_v)[:-1], np.shape(ref_area))
    rx = np.broadcast_to(ref_xy, lead + (k, 2)).reshape(-1, k, 2)
    ox = np.broadcast_to(other_xy, lead + (k, 2)).reshape(-1, k, 2)
    labeled = np.broadcast_to(np.asarray(ref_v) > 0, lead + (k,)).reshape(-1, k)
    area = np.broadcast_to(np.asarray(ref_area, dtype=np.float64), lead).reshape(-1)

    dx = ox[..., 0] - rx[..., 0]
    dy = ox[..., 1] - rx[..., 1]
    k1 = np.count_nonzero(labeled, axis=-1)
    fallback = k1 == 0
    if fallback.any():
        if ref_bbox is None:
            dx[fallback] = np.nan
        else:
            bb = np.broadcast_to(np.asarray(ref_bbox, dtype=np.float64), lead + (4,)).reshape(-1, 4)[fallback]
            x0 = bb[:, 0] - bb[:, 2]; x1 = bb[:, 0] + bb[:, 2] * 2  # noqa: E702
            y0 = bb[:, 1] - bb[:, 3]; y1 = bb[:, 1] + bb[:, 3] * 2  # noqa: E702
            xd, yd = ox[fallback, :, 0], ox[fallback, :, 1]
            dx[fallback] = np.maximum(0, x0[:, None] - xd) + np.maximum(0, xd - x1[:, None])
            dy[fallback] = np.maximum(0, y0[:, None] - yd) + np.maximum(0, yd - y1[:, None])
    e = (dx ** 2 + dy ** 2) / var / (area[:, None] + _EPS) / 2
    sim = np.exp(-e)
    count = np.where(fallback, k, k1)
    total = np.where(fallback, sim.sum(-1), np.where(labeled, sim, 0.0).sum(-1))
    return (total / count).reshape(lead)


def box_iou(a, b) -> np.ndarray:
    """Intersection over union of ``[x, y, w, h]`` boxes.

    Parameters
    ----------
    a, b : array_like, shape (..., 4), broadcastable

    Returns
    -------
    iou : ndarray, shape (...); 0 where the union is empty
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    iw = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    ih = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def agreement_oks(a_xy, a_v, a_area, b_xy, b_v, b_area, sigmas, a_bbox=None, b_bbox=None):
    """Symmetric OKS between two annotators' instances, with per-keypoint terms.

    Neither side is ground truth, so the form is made symmetric:

    * scale ``s**2 = (area_a + area_b) / 2``;
    * every keypoint labeled by *either* side counts;
    * a keypoint labeled by one side only scores 0 — a missed or invented
      joint is an error, not something to skip (COCO's form would silently
      ignore a joint the reference omitted).

    Two instances with no labeled keypoint at all are bare boxes; their
    agreement is then their box IoU when boxes are given, else NaN.

    Parameters
    ----------
    a_xy, b_xy : array_like, shape (..., K, 2)
    a_v, b_v : array_like, shape (..., K)
    a_area, b_area : array_like, shape (...)
    sigmas : array_like, shape (K,)
    a_bbox, b_bbox : array_like, shape (..., 4), optional

    Returns
    -------
    oks : ndarray, shape (...)
    keypoint : ndarray, shape (..., K)
        Per-keypoint similarity in [0, 1]; 0 where exactly one side labeled
        the keypoint, NaN where neither did (it does not count).
    """
    a_xy = np.asarray(a_xy, dtype=np.float64)
    b_xy = np.asarray(b_xy, dtype=np.float64)
    k = a_xy.shape[-2]
    var = (as_sigmas(sigmas, k) * 2) ** 2
    la = np.asarray(a_v) > 0
    lb = np.asarray(b_v) > 0
    s2 = (np.asarray(a_area, dtype=np.float64) + np.asarray(b_area, dtype=np.float64)) / 2
    d = a_xy - b_xy
    e = (d[..., 0] ** 2 + d[..., 1] ** 2) / var / (s2[..., None] + _EPS) / 2
    union = la | lb
    per = np.where(la & lb, np.exp(-e), 0.0)
    n = union.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        oks = np.where(union, per, 0.0).sum(-1) / n
    if a_bbox is not None and b_bbox is not None and np.any(n == 0):
        oks = np.where(n == 0, box_iou(a_bbox, b_bbox), oks)
    return oks, np.where(union, per, np.nan)


def _chunks(p: int, chunk: int):
    for lo in range(0, p, chunk):
        yield slice(lo, min(lo + chunk, p))


def pair_oks(batch: InstanceBatch, ref, other, sigmas, *, chunk: int = _CHUNK) -> np.ndarray:
    """COCO OKS (`compute_oks`) for a list of instance pairs of a batch.

    The batched kernel of `compute_oks`: the same terms, gathered ``chunk``
    pairs at a time, with reciprocals multiplied rather than divided (equal
    to `compute_oks` and pycocotools to ~1e-16) and ``exp`` skipped for
    terms below ``e**-50``. References without labeled keypoints go through
    `compute_oks`'s box fallback.

    Parameters
    ----------
    batch : InstanceBatch
    ref, other : array_like, shape (P,), int
        Positions into the batch; ``ref`` plays ground truth.
    sigmas : array_like, shape (K,)

    Returns
    -------
    oks : ndarray, shape (P,), float64
    """
    ref = np.asarray(ref, dtype=np.int64)
    other = np.asarray(other, dtype=np.int64)
    k = batch.num_keypoints
    coef = -1.0 / (2.0 * (as_sigmas(sigmas, k) * 2) ** 2)
    x, y, lab, area = batch.x, batch.y, batch.labeled, batch.area
    out = np.empty(ref.shape[0])
    buf = np.empty((min(chunk, ref.shape[0]), k))
    for sl in _chunks(ref.shape[0], chunk):
        r, o = ref[sl], other[sl]
        e = x[o]
        e -= x[r]
        e *= e
        dy = y[o]
        dy -= y[r]
        dy *= dy
        e += dy
        e *= (1.0 / (area[r] + _EPS))[:, None]
        e *= coef
        counted = lab[r]
        live = counted & (e > _NEGLIGIBLE)
        sim = buf[: r.shape[0]]
        sim[...] = 0
        np.exp(e, out=sim, where=live)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[sl] = sim.sum(1) / np.count_nonzero(counted, axis=1)
    bare = np.flatnonzero(~lab[ref].any(1))
    if bare.size:  # the reference labeled nothing: pycocotools' enlarged-box distance
        r, o = ref[bare], other[bare]
        out[bare] = compute_oks(batch.xy[r], batch.v[r], area[r], batch.xy[o], sigmas, batch.bbox[r])
    return out


def pair_agreement(batch: InstanceBatch, a, b, sigmas, *, other: InstanceBatch | None = None,
                   keypoints: bool = False, permute_b=None, chunk: int = _CHUNK, dtype=np.float64):
    """Symmetric `agreement_oks` for a list of instance pairs.

    The project-scale kernel: pairs are gathered ``chunk`` at a time, so the
    working set stays in cache whatever ``P`` is, and nothing is computed per
    pair in Python.

    Parameters
    ----------
    batch : InstanceBatch
    a, b : array_like, shape (P,), int
        Positions of the two sides: ``a`` into ``batch``, ``b`` into
        ``other`` (default: ``batch`` too).
    sigmas : array_like, shape (K,)
    other : InstanceBatch, optional
        Second batch, e.g. consensus or gold instances.
    keypoints : bool
        Also return the per-keypoint similarities (P x K memory).
    permute_b : array_like, shape (K,), optional
        Reorder side b's keypoints first — with `Skeleton.flip_permutation`,
        the agreement with b's mirror image (left and right exchanged).
    chunk : int
        Pairs per gathered chunk.
    dtype : {float64, float32}
        Working precision. float32 halves memory traffic and is ample for a
        similarity in [0, 1] (errors ~1e-7); the COCO-equality path
        (`compute_oks`) is always float64.

    Returns
    -------
    oks : ndarray, shape (P,), float64
    keypoint : ndarray, shape (P, K), only if ``keypoints``
        As in `agreement_oks`: 0 for one-sided keypoints, NaN where neither
        side labeled the keypoint.
    """
    other = batch if other is None else other
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    p, k = a.shape[0], batch.num_keypoints
    if other.num_keypoints != k:
        raise ValueError("both batches must have the same keypoints")
    dtype = np.dtype(dtype)
    # exp(-d^2 / (2 s^2 (2 sigma)^2)) = exp(d^2 * coef / s^2), coef = -1 / (8 sigma^2)
    coef = (-1.0 / (8.0 * as_sigmas(sigmas, k) ** 2)).astype(dtype)
    xa, ya, la, aa = _cast(batch.x, dtype), _cast(batch.y, dtype), batch.labeled, batch.area
    xb, yb, lb, ab = _cast(other.x, dtype), _cast(other.y, dtype), other.labeled, other.area
    if permute_b is not None:
        perm = np.asarray(permute_b, dtype=np.int64)
        gather_b = lambda arr, rows: np.take(arr[rows], perm, axis=1)  # noqa: E731
    else:
        gather_b = lambda arr, rows: arr[rows]  # noqa: E731
    # keypoints labeled by either side, counted from per-instance bit masks
    bits_a, bits_b = _label_bits(batch), _label_bits(other)
    fast_count = bits_a is not None and bits_b is not None and permute_b is None
    out = np.empty(p, dtype=np.float64)
    per_out = np.empty((p, k), dtype=dtype) if keypoints else None
    buf = np.empty((min(chunk, p), k), dtype=dtype)
    for sl in _chunks(p, chunk):
        ia, ib = a[sl], b[sl]
        e = xa[ia]
        e -= gather_b(xb, ib)
        e *= e
        dy = ya[ia]
        dy -= gather_b(yb, ib)
        dy *= dy
        e += dy  # squared distance, (C, K)
        e *= (2.0 / (aa[ia] + ab[ib] + 2 * _EPS)).astype(dtype)[:, None]
        e *= coef
        l1, l2 = la[ia], gather_b(lb, ib)
        # exp only where both labeled and the term is not negligible (< e^-50 ~ 2e-22)
        live = l1 & l2
        live &= e > _NEGLIGIBLE
        sim = buf[: ia.shape[0]]
        sim[...] = 0
        np.exp(e, out=sim, where=live)
        if fast_count:
            n = np.bitwise_count(bits_a[ia] | bits_b[ib])
        else:
            n = np.count_nonzero(l1 | l2, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[sl] = sim.sum(1, dtype=np.float64) / n
        if keypoints:
            per_out[sl] = np.where(l1 | l2, sim, np.nan)
    empty = np.flatnonzero(np.isnan(out))
    if empty.size:  # no keypoint on either side: bare boxes, compare boxes
        out[empty] = box_iou(batch.bbox[a[empty]], other.bbox[b[empty]])
    return (out, per_out) if keypoints else out


def _label_bits(batch: InstanceBatch):
    """(N,) uint64 bit mask of labeled keypoints (cached on the batch), or None.

    Lets the kernel count "labeled by either side" with one OR and a
    popcount per pair instead of K boolean operations. None for K > 64 or
    a numpy without ``bitwise_count`` (the kernel then counts booleans).
    """
    if batch.num_keypoints > 64 or not hasattr(np, "bitwise_count"):
        return None
    bits = batch.__dict__.get("_label_bits")
    if bits is None:
        weights = np.left_shift(np.uint64(1), np.arange(batch.num_keypoints, dtype=np.uint64))
        bits = np.bitwise_or.reduce(np.where(batch.labeled, weights, np.uint64(0)), axis=1) \
            if len(batch) else np.zeros(0, np.uint64)
        batch.__dict__["_label_bits"] = bits
    return bits


def _cast(arr: np.ndarray, dtype) -> np.ndarray:
    return arr if arr.dtype == dtype else arr.astype(dtype)
