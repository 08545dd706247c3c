"""Learn per-keypoint OKS sigmas for any skeleton from redundant annotations.

COCO defined its sigmas from redundantly annotated images as the spread of
annotators relative to object scale: ``sigma_k**2 = E[d_k**2 / s**2]``,
``d_k`` an annotator's error on keypoint ``k``, ``s**2`` the object area.
The same measurement on a project's own data gives sigmas for skeletons
COCO never saw (hands, animals, machines).

Estimator. Compare annotators with each other rather than with a consensus
built from them, which would share their errors and bias the spread low by
an amount that depends on the number of annotators and the center used. For
two annotators with independent isotropic Gaussian errors of per-axis
variance ``tau**2 = sigma**2 s**2 / 2``, the difference ``x_a - x_b`` has
per-axis variance ``2 tau**2``, so ``|x_a - x_b|**2 / (4 tau**2)`` is
exponential with mean 1 and median ``ln 2``. With ``r**2 = |x_a - x_b|**2 /
(2 s**2)``::

    median(r**2) = 2 tau**2 ln 2 / s**2 = sigma**2 ln 2
    sigma**2 = median(r**2) / ln 2

exactly, whatever the number of annotators. The median makes the estimate
survive swapped left/right joints and gross clicks (up to half the pairs),
where a mean of squares would be dominated by them. The confidence interval
is the distribution-free one for a median (binomial order statistics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from ._segments import chunks
from .batch import InstanceBatch

__all__ = ["SigmaEstimate", "estimate_sigmas"]

_LN2 = np.log(2.0)


@dataclass(frozen=True, eq=False)
class SigmaEstimate:
    """Learned sigmas with confidence intervals.

    Attributes
    ----------
    sigma : ndarray, shape (K,)
        NaN for keypoints with fewer than ``min_count`` observations.
    low, high : ndarray, shape (K,)
        Confidence interval bounds.
    count : ndarray, shape (K,), int64
        Annotator pairs that labeled the keypoint.
    """

    sigma: np.ndarray
    low: np.ndarray
    high: np.ndarray
    count: np.ndarray


def estimate_sigmas(batch: InstanceBatch, a, b, *, min_count: int = 20,
                    confidence: float = 0.95) -> SigmaEstimate:
    """Per-keypoint sigmas from pairs of instances of the same object.

    Parameters
    ----------
    batch : InstanceBatch
    a, b : array_like, shape (P,), int
        Instances of the same object by two different annotators, e.g. the
        member pairs of consensus clusters (`Clusters.member_pairs`).
    min_count : int
        Keypoints labeled by both sides in fewer pairs get NaN.
    confidence : float
        Coverage of the interval.

    Returns
    -------
    SigmaEstimate
        Scale ``s**2`` is the mean of the two instances' areas — the same
        scale the project's OKS uses, so learned sigmas fit its OKS.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    k = batch.num_keypoints
    # r**2 per keypoint, keypoint-major (K, P), +inf where not labeled by both
    # (sorts after every real value); computed in cache-sized chunks.
    vals = np.empty((k, a.shape[0]))
    for sl in chunks(a.shape[0]):
        ia, ib = a[sl], b[sl]
        both = batch.labeled[ia] & batch.labeled[ib]
        dx = batch.x[ia] - batch.x[ib]
        dy = batch.y[ia] - batch.y[ib]
        with np.errstate(invalid="ignore", divide="ignore"):
            r2 = (dx * dx + dy * dy) / (batch.area[ia] + batch.area[ib])[:, None]  # = d^2 / (2 s^2)
        vals[:, sl] = np.where(both & np.isfinite(r2), r2, np.inf).T
    count = np.count_nonzero(np.isfinite(vals), axis=1).astype(np.int64)
    ok = count >= max(min_count, 1)
    n = np.maximum(count, 1)
    half = norm.ppf(0.5 + confidence / 2) * np.sqrt(count) / 2
    ranks = np.stack([(n - 1) // 2, n // 2,
                      np.clip(np.floor(n / 2 - half), 0, n - 1),
                      np.clip(np.ceil(n / 2 + half) - 1, 0, n - 1)]).astype(np.int64)  # (4, K)
    if a.shape[0] == 0:
        nan = np.full(k, np.nan)
        return SigmaEstimate(sigma=nan, low=nan.copy(), high=nan.copy(), count=count)
    # Order statistics of every keypoint: one in-place multi-kth partition.
    vals.partition(np.unique(ranks), axis=1)
    stat = np.take_along_axis(vals, ranks.T, axis=1)  # (K, 4)
    stat = np.where(ok[:, None], stat, np.nan)
    med = 0.5 * (stat[:, 0] + stat[:, 1])
    return SigmaEstimate(sigma=np.sqrt(med / _LN2), low=np.sqrt(stat[:, 2] / _LN2),
                         high=np.sqrt(stat[:, 3] / _LN2), count=count)
