"""Each annotator's noise, per keypoint, learned from the redundant labels themselves.

The continuous-label analogue of Dawid-Skene: nobody knows the truth, but
with several annotators per object, the consensus and each annotator's
error model can be estimated together, by alternating:

1. **consensus** per keypoint: the inverse-variance weighted mean of the
   members' offset-corrected positions, after rejecting gross clicks (a
   point farther than ``sqrt(reject)`` of its annotator's own standard
   deviations from the geometric median of the object's points);
2. **each annotator's model** per keypoint, in units of ``sigma_k * s``:
   the *spread* ``v`` (mean squared distance to the consensus, corrected
   for the annotator's own pull on it: with inverse-variance weights
   ``E|x_a - c|**2 = v_a - 1 / W``, so ``|x_a - c|**2 + 1 / W`` is unbiased),
   and the *offset* (mean signed distance, re-centered on the median
   annotator, since a shift shared by everyone is invisible).

A handful of iterations on an even sample of the objects settles the
model; the variances have a floor, so that a few lucky objects never give
one annotator all the weight. The sufficient statistics (sums and counts)
are kept, so a model learned on a project pools with a later batch's.
``v = 1`` means "as precise as COCO's annotators" (the simulator's
``noise ** 2``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from ._segments import masked_median0
from .batch import InstanceBatch
from .clustering import Clusters
from .skeleton import as_sigmas

__all__ = ["NoiseModel", "learn_noise"]


@dataclass(frozen=True, eq=False)
class NoiseModel:
    """Per-annotator, per-keypoint error model (``S`` annotators, ``K`` keypoints).

    Attributes
    ----------
    var : ndarray, shape (S, K)
        Spread around the annotator's own offset, in ``(sigma_k s)**2``;
        NaN where unknown.
    offset : ndarray, shape (S, K, 2)
        Systematic (dx, dy) in units of ``sigma_k s``, relative to the
        median annotator (``y`` down: negative dy is "too high"); 0 where unknown.
    count : ndarray, shape (S, K), int64
        Observations behind each estimate (this batch plus ``prior``).
    outliers : ndarray, shape (S, K), int64
        Points rejected as gross clicks (this batch).
    sum_sq : ndarray, shape (S, K)
    sum_offset : ndarray, shape (S, K, 2)
        Sufficient statistics: ``var = sum_sq / count``, ``offset = sum_offset / count``.
    min_count : int
        Fewer observations than this: too little history (``known`` False).
    floor : float
        Smallest variance used for weights.
    """

    var: np.ndarray
    offset: np.ndarray
    count: np.ndarray
    outliers: np.ndarray
    sum_sq: np.ndarray
    sum_offset: np.ndarray
    min_count: int = 30
    floor: float = 0.05

    @property
    def known(self) -> np.ndarray:
        """(S, K) bool: enough history to weight this annotator's keypoint."""
        return self.count >= self.min_count

    def weight_variance(self, subtract_offsets: bool) -> np.ndarray:
        """(S, K) variance a consensus weights by: the spread, plus the offset
        squared when the offset is left in the points; floored; NaN if unknown."""
        v = self.var if subtract_offsets else self.var + (self.offset ** 2).sum(-1)
        return np.where(self.known, np.maximum(v, self.floor), np.nan)

    def error_var(self) -> np.ndarray:
        """(S,) count-weighted mean spread over keypoints (NaN without data)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nansum(self.var * self.count, 1) / np.where(self.count.sum(1) > 0, self.count.sum(1), np.nan)

    @classmethod
    def from_statistics(cls, count, sum_sq, sum_offset, *, outliers=None, min_count: int = 30,
                        floor: float = 0.05) -> "NoiseModel":
        """A model from (pooled) sufficient statistics."""
        count = np.asarray(count, np.int64)
        sum_sq = np.asarray(sum_sq, np.float64)
        sum_offset = np.asarray(sum_offset, np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(count > 0, sum_sq / count, np.nan)
            offset = np.where(count[..., None] > 0, sum_offset / count[..., None], 0.0)
        return cls(var=var, offset=offset, count=count,
                   outliers=np.zeros_like(count) if outliers is None else np.asarray(outliers, np.int64),
                   sum_sq=sum_sq, sum_offset=sum_offset, min_count=min_count, floor=floor)


def _gather(batch: InstanceBatch, members: np.ndarray, sigmas: np.ndarray):
    """Members' points in sigma units: x, y, labeled (M, R*K), source (M, R)."""
    m, r = members.shape[1], members.shape[0]
    k = batch.num_keypoints
    present = (members >= 0).T  # (M, R)
    idx = np.where(present, members.T, 0)
    area = np.where(present, batch.area[idx], 0.0).sum(0) / np.maximum(present.sum(0), 1)
    scale = (np.sqrt(area)[:, None] * sigmas[None, :]).reshape(-1)  # (R*K,)
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = np.where(scale > 0, 1.0 / scale, 0.0)
    x = batch.x[idx].reshape(m, r * k) * inv
    y = batch.y[idx].reshape(m, r * k) * inv
    lab = batch.labeled[idx].reshape(m, r * k) & np.repeat(present, k, axis=1) & (inv > 0)
    return x, y, lab, np.where(present, batch.source[idx], 0)


def learn_noise(batch: InstanceBatch, clusters: Clusters, sigmas, *, prior: NoiseModel | None = None,
                objects=None, iterations: int = 3, max_objects: int = 20_000, reject: float = 9.0,
                min_count: int = 30, floor: float = 0.05) -> NoiseModel:
    """Learn every annotator's per-keypoint spread and offset (see module docstring).

    Parameters
    ----------
    batch : InstanceBatch
        Instances already in their objects' orientation (`orientation.exchange_pairs`).
    clusters : Clusters
    sigmas : array_like, shape (K,)
    prior : NoiseModel, optional
        Statistics carried over from earlier scoring, indexed like this
        batch's sources; pooled with this batch's.
    objects : array_like of int, optional
        Clusters to learn from (default: all with at least two members).
    iterations : int
    max_objects : int
        Larger sets are evenly subsampled (a variance from 10**4 points per
        annotator and keypoint is within 2%; a project's annotators each
        label a share of it, and the statistics pool across batches).
    reject : float
        A point whose squared distance to the object's geometric median
        exceeds ``reject`` times its annotator's variance is a gross click
        (for Gaussian errors ``P = exp(-reject)``: 1e-4 at 9).
    min_count, floor : see `NoiseModel`

    Returns
    -------
    NoiseModel
    """
    sig = as_sigmas(sigmas, batch.num_keypoints)
    n_src, k = batch.n_sources, batch.num_keypoints
    objs = np.flatnonzero(clusters.support >= 2) if objects is None else np.asarray(objects, np.int64)
    if objs.size > max_objects:
        objs = objs[np.linspace(0, objs.size - 1, max_objects).astype(np.int64)]
    p_count = np.zeros((n_src, k)) if prior is None else prior.count.astype(np.float64)
    p_sq = np.zeros((n_src, k)) if prior is None else prior.sum_sq
    p_off = np.zeros((n_src, k, 2)) if prior is None else prior.sum_offset
    if objs.size == 0:
        return NoiseModel.from_statistics(p_count, p_sq, p_off, min_count=min_count, floor=floor)

    x, y, lab, src = _gather(batch, clusters.members[objs], sig)
    m, rk = x.shape
    r = rk // k
    key = (src[:, :, None] * k + np.arange(k)).reshape(m, -1)  # (M, R*K): (annotator, keypoint) cell
    # (annotator x member-slot) incidence: sums per annotator and keypoint are one sparse product
    slot_src = csr_matrix((np.ones(m * r), (src.ravel(), np.arange(m * r))), shape=(n_src, m * r))

    def cell_sum(values):  # (M, R*K) -> (S, K)
        return np.asarray(slot_src @ values.reshape(m * r, k))

    x0, y0 = masked_median0(x, lab), masked_median0(y, lab)  # robust start: who is a gross click
    d0 = (x - x0) ** 2 + (y - y0) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(p_count > 0, p_sq / p_count, _pairwise_variance(x, y, lab, src, n_src, reject))
        off = np.where(p_count[..., None] > 0, p_off / p_count[..., None], 0.0)
    for _ in range(max(iterations, 1)):  # EM-style alternation: a handful of whole-array passes
        v = np.maximum(var, floor).reshape(-1)[key]
        keep = lab & (d0 <= reject * v)
        keep |= lab & ~keep.any(0)  # nobody close to the median: keep them all
        px = x - off[..., 0].reshape(-1)[key]
        py = y - off[..., 1].reshape(-1)[key]
        w = np.where(keep, 1.0 / v, 0.0)
        wsum = w.sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            cx, cy = (w * px).sum(0) / wsum, (w * py).sum(0) / wsum
        used = keep & (np.count_nonzero(keep, axis=0) >= 2)  # one point alone says nothing of its noise
        rx, ry = np.where(used, px - cx, 0.0), np.where(used, py - cy, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            sq = cell_sum(np.where(used, rx * rx + ry * ry + 1.0 / wsum, 0.0))
        count = cell_sum(used.astype(np.float64))
        so = np.stack([cell_sum(rx), cell_sum(ry)], -1)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(count + p_count > 0, (sq + p_sq) / (count + p_count), 1.0)
            step = np.where(count[..., None] > 0, so / count[..., None], 0.0)
        off = off + step
        off = off - _median_over_known(off, count + p_count >= min_count)
    outliers = cell_sum((lab & ~keep).astype(np.float64))
    total = count + p_count
    # statistics in the converged form: offsets as sums, so that pooling adds them up
    return NoiseModel(var=np.where(total > 0, var, np.nan), offset=np.where(total[..., None] > 0, off, 0.0),
                      count=total.astype(np.int64), outliers=outliers.astype(np.int64), sum_sq=sq + p_sq,
                      sum_offset=off * total[..., None], min_count=min_count, floor=floor)


def _pairwise_variance(x, y, lab, src, n_src: int, reject: float) -> np.ndarray:
    """Starting variances: ``E|x_a - x_b|**2 = v_a + v_b`` per keypoint, solved over annotator pairs.

    The fixed-point iteration alone creeps towards the answer (with three
    annotators, tens of passes); this closed form (the "three-cornered hat"
    of instrument calibration) lands next to it, and the passes only add
    offsets and gross-click rejection. Two annotators alone split their
    sum evenly (the minimum-norm solution).

    Parameters
    ----------
    x, y : ndarray, shape (M, R*K), sigma units
    lab : ndarray, shape (M, R*K), bool
    src : ndarray, shape (M, R), int

    Returns
    -------
    ndarray, shape (S, K); 1 (COCO's) where nothing is known
    """
    m, rk = x.shape
    r = src.shape[1]
    k = rk // r
    si, sj = np.triu_indices(m, 1)
    sums, counts = {}, {}
    for a, b in zip(si.tolist(), sj.tolist()):  # loop over member-slot pairs (<= M(M-1)/2)
        both = lab[a] & lab[b]
        d2 = (x[a] - x[b]) ** 2 + (y[a] - y[b]) ** 2
        both &= d2 <= 4 * reject  # beyond this, gross clicks: not a scatter
        lo, hi = np.minimum(src[a], src[b]), np.maximum(src[a], src[b])
        t = np.repeat(lo * n_src + hi, k)  # (R*K,) pair type of each point
        cell = t * k + np.tile(np.arange(k), r)
        sums[a, b] = np.bincount(cell[both], weights=d2[both], minlength=n_src * n_src * k)
        counts[a, b] = np.bincount(cell[both], minlength=n_src * n_src * k)
    total = sum(sums.values()).reshape(n_src * n_src, k)
    count = sum(counts.values()).reshape(n_src * n_src, k)
    types = np.flatnonzero(count.sum(1) > 0)
    var = np.ones((n_src, k))
    if types.size == 0:
        return var
    design = np.zeros((types.size, n_src))
    design[np.arange(types.size), types // n_src] += 1.0
    design[np.arange(types.size), types % n_src] += 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count[types] > 0, total[types] / count[types], 0.0)
    sol = np.linalg.lstsq(design, mean, rcond=None)[0]  # (S, K): every keypoint in one solve
    seen = design.any(0)
    var[seen] = np.maximum(sol[seen], 1e-3)
    return var


def _median_over_known(offset: np.ndarray, known: np.ndarray) -> np.ndarray:
    """(1, K, 2) median offset over the annotators with enough data (0 where none)."""
    masked = np.where(known[..., None], offset, np.nan)
    has = known.any(0)
    med = np.zeros((1,) + offset.shape[1:])
    if has.any():
        med[0, has] = np.nanmedian(masked[:, has], axis=0)
    return med
