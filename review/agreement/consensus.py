"""Consensus instances from n annotators, and leave-one-out references.

Per cluster of matched instances (`cluster_instances`) and per keypoint:

* **labeled or not** by (optionally reliability-weighted) majority vote of
  the cluster's members, ties counting as labeled (a position exists);
* **visible or occluded** by majority among those who labeled it, ties
  counting as visible;
* **position** by a robust center of the labelers' positions: the geometric
  median, a reliability-weighted mean, or ("learned", what the pipeline
  uses) each point weighted by the inverse of its annotator's learned
  variance for that keypoint (`noise.NoiseModel`), gross clicks rejected
  against the geometric median, which stays the answer wherever an
  annotator has too little history;
* **spread**: RMS distance of the labelers to the consensus in units of the
  keypoint's sigma times object scale — ~1 when annotators scatter as much as
  COCO's did, NaN with fewer than two labelers. It is the keypoint's
  confidence.

A cluster becomes a consensus object only with enough support (quorum,
default a strict majority of the annotators assigned to the image).

The leave-one-out (LOO) reference of a member is the same consensus computed
from the *other* members only: what an annotator is graded against, so that
nobody grades themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._segments import masked_median0, sorted_unique, take_cols
from .batch import InstanceBatch
from .center import mean_soa, median_soa
from .clustering import Clusters, cluster_instances
from .oks import pair_agreement
from .skeleton import as_sigmas

__all__ = ["Consensus", "LeaveOneOut", "build_consensus", "consensus_from_clusters",
           "leave_one_out", "majority_quorum", "image_replicas"]

_CHUNK = 1024  # clusters per kernel chunk: (M, 1024 * K) arrays stay in cache
METHODS = ("median", "mean", "learned")


def majority_quorum(replicas) -> np.ndarray:
    """Strict majority of ``replicas`` annotators: ``replicas // 2 + 1``."""
    return np.asarray(replicas, dtype=np.int64) // 2 + 1


def image_replicas(batch: InstanceBatch) -> np.ndarray:
    """(n_images,) int64: distinct annotators with at least one instance in each image.

    The default number of replicas. An annotator who was assigned an image
    and drew nothing on it is invisible here; pass the real assignment
    counts to the pipeline when they are known.
    """
    key = sorted_unique(batch.image * max(batch.n_sources, 1) + batch.source)
    return np.bincount(key // max(batch.n_sources, 1), minlength=batch.n_images).astype(np.int64)


@dataclass(frozen=True, eq=False)
class _Centers:
    """Kernel output for R member sets (consensus) — preallocated, filled by chunks."""

    x: np.ndarray  # (R, K)
    y: np.ndarray  # (R, K)
    v: np.ndarray  # (R, K) int8
    bbox: np.ndarray  # (R, 4)
    area: np.ndarray  # (R,)
    spread: np.ndarray  # (R, K)
    n_labeled: np.ndarray  # (R, K) members who labeled the keypoint
    n_members: np.ndarray  # (R,)

    @classmethod
    def empty(cls, r: int, k: int) -> "_Centers":
        return cls(x=np.zeros((r, k)), y=np.zeros((r, k)), v=np.zeros((r, k), np.int8),
                   bbox=np.full((r, 4), np.nan), area=np.full(r, np.nan),
                   spread=np.full((r, k), np.nan), n_labeled=np.zeros((r, k), np.int16),
                   n_members=np.zeros(r, np.int16))


def _kernel(batch: InstanceBatch, members: np.ndarray, support: np.ndarray, sigmas: np.ndarray,
            method: str, weights, out: _Centers | None, loo: _Centers | None, learned=None) -> None:
    """Consensus and/or leave-one-out references of all clusters, chunk by chunk.

    Parameters
    ----------
    members : ndarray, shape (C, M), int64, -1 padded
    support : ndarray, shape (C,)
    out : _Centers with C rows, or None
    loo : _Centers with one row per (cluster, member) of clusters with
        support >= 2, cluster-major; or None
    learned : _Learned, for ``method="learned"``
    """
    c_total, m = members.shape
    keep = support >= 2
    loo_counts = np.where(keep, support, 0)
    loo_start = np.cumsum(loo_counts) - loo_counts
    for lo in range(0, c_total, _CHUNK):
        hi = min(lo + _CHUNK, c_total)
        _kernel_chunk(batch, members[lo:hi], keep[lo:hi], sigmas, method, weights,
                      out, lo, loo, int(loo_start[lo]) if lo < c_total else 0, learned)


@dataclass(frozen=True)
class _Learned:
    """What ``method="learned"`` needs from a `NoiseModel`.

    var : (S, K) variance to weight by, NaN where the annotator has too little history
    offset : (S, K, 2) offsets to subtract (sigma units), or None
    reject : gross-click threshold on squared distance over variance
    """

    var: np.ndarray
    offset: np.ndarray | None
    reject: float


def _learned_weights(px, py, lab, src, scale, learned: _Learned, k: int):
    """Points and weights of the learned consensus: offsets removed, inverse-variance weights, gross clicks out.

    Parameters
    ----------
    px, py : ndarray, shape (M, R*K)
        Labelers' positions (0 elsewhere).
    lab : ndarray, shape (M, R*K), bool
    src : ndarray, shape (M, R), int
        Annotator of each member slot.
    scale : ndarray, shape (R*K,)
        ``sigma_k * s`` of each point set.

    Returns
    -------
    px, py : ndarray, shape (M, R*K)
        The points, less their annotator's offset if ``learned.offset``.
    w : ndarray, shape (M, R*K)
        ``1 / variance`` of the points kept, 0 for gross clicks and the unlabeled.
    short : ndarray, shape (Q,), int
        Point sets with a labeler of too little history (their weights are not to be used).
    """
    m = px.shape[0]
    cell = (src[:, :, None] * k + np.arange(k)).reshape(m, -1)  # (M, R*K) annotator-keypoint cell
    if learned.offset is not None:  # the annotator's habit removed, in pixels of this object
        px = np.where(lab, px - learned.offset[..., 0].reshape(-1)[cell] * scale, 0.0)
        py = np.where(lab, py - learned.offset[..., 1].reshape(-1)[cell] * scale, 0.0)
    v = learned.var.reshape(-1)[cell] * scale * scale  # pixels**2
    known = ~(lab & np.isnan(v)).any(0)  # every labeler has a history
    mx, my = masked_median0(px, lab), masked_median0(py, lab)  # robust start: who is a gross click
    with np.errstate(invalid="ignore", divide="ignore"):
        keep = lab & (((px - mx) ** 2 + (py - my) ** 2) <= learned.reject * v)
        keep |= lab & ~keep.any(0)
        w = np.where(keep, 1.0 / v, 0.0)
    return px, py, w, np.flatnonzero(~known)


def _learned_center(parts, lab):
    """Inverse-variance weighted mean without gross clicks; the geometric median where history is short.

    Parameters
    ----------
    parts : `_learned_weights`'s result
    lab : ndarray, shape (M, R*K), bool

    Returns
    -------
    cx, cy : ndarray, shape (R*K,)
    """
    px, py, w, short = parts
    with np.errstate(invalid="ignore", divide="ignore"):
        cx, cy = mean_soa(px, py, w)
    if short.size:  # too little history: the geometric median, as without a noise model
        cx[short], cy[short] = median_soa(take_cols(px, short), take_cols(py, short),
                                          take_cols(lab, short).astype(np.float64))
    return cx, cy


def _learned_leave_one_out(parts, lab):
    """Every member's others' learned consensus at once: (M, R*K) arrays, row j without slot j.

    The weighted mean less one point is closed-form; where the others are
    all gross clicks by the full set's median, or someone's history is
    short, the others' geometric median.
    """
    px, py, w, short = parts
    m = px.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        rest = w.sum(0) - w
        lx = ((w * px).sum(0) - w * px) / rest
        ly = ((w * py).sum(0) - w * py) / rest
    others = lab.sum(0) - lab  # labelers besides slot j
    redo = np.union1d(np.flatnonzero(((rest <= 0) & (others > 0)).any(0)), short)
    if redo.size:
        rx, ry, rl = take_cols(px, redo), take_cols(py, redo), take_cols(lab, redo).astype(np.float64)
        for j in range(m):  # loop over member slots
            wj = rl.copy()
            wj[j] = 0.0
            lx[j, redo], ly[j, redo] = median_soa(rx, ry, wj)
    return lx, ly


def _kernel_chunk(batch, members, keep, sigmas, method, weights, out, lo, loo, loo_lo, learned=None) -> None:
    r, m = members.shape
    k = batch.num_keypoints
    present = (members >= 0).T  # (M, R): member slot first (structure of arrays)
    idx = np.where(present, members.T, 0)
    x = np.empty((m, r, k))
    y = np.empty((m, r, k))
    v = np.empty((m, r, k), np.int8)
    bb = np.empty((m, r, 4))
    ar = np.empty((m, r))
    for j in range(m):  # loop over member slots (<= annotators per image)
        np.take(batch.x, idx[j], axis=0, out=x[j])
        np.take(batch.y, idx[j], axis=0, out=y[j])
        np.take(batch.v, idx[j], axis=0, out=v[j])
        np.take(batch.bbox, idx[j], axis=0, out=bb[j])
        np.take(batch.area, idx[j], out=ar[j])
    x, y, v = x.reshape(m, r * k), y.reshape(m, r * k), v.reshape(m, r * k)
    pres_k = np.repeat(present, k, axis=1)  # (M, R*K)
    lab = (v > 0) & pres_k
    vis = lab & (v == 2)
    if weights is None:
        w_k = pres_k.astype(np.float64)
    else:
        w_k = np.repeat(present * np.asarray(weights, dtype=np.float64)[batch.source[idx]], k, axis=1)
    wlab = np.where(lab, w_k, 0.0)  # labelers' weights
    px = np.where(lab, x, 0.0)
    py = np.where(lab, y, 0.0)
    w_l, w_a, w_v = wlab.sum(0), w_k.sum(0), np.where(vis, w_k, 0.0).sum(0)
    n_lab = np.count_nonzero(lab, axis=0)
    center = mean_soa if method == "mean" else median_soa
    rows = slice(lo, lo + r)
    parts = None

    def learned_parts(area):
        scale_k = (np.sqrt(area)[:, None] * sigmas[None, :]).reshape(-1)
        return _learned_weights(px, py, lab, np.where(present, batch.source[idx], 0), scale_k, learned, k)

    if out is not None:
        # Votes: labeled by weighted majority (ties -> labeled), then visible vs occluded.
        labeled = (2 * w_l >= w_a) & (w_l > 0)
        v_out = np.where(labeled, np.where(2 * w_v >= w_l, 2, 1), 0).astype(np.int8)
        area = masked_median0(ar, present)
        if method == "learned":
            parts = learned_parts(area)
            cx, cy = _learned_center(parts, lab)
        else:
            cx, cy = center(px, py, wlab)
        cx = np.where(labeled, cx, 0.0)
        cy = np.where(labeled, cy, 0.0)
        # Spread of the labelers around the consensus, in sigma units.
        d2 = np.where(lab, (px - cx) ** 2 + (py - cy) ** 2, 0.0).sum(0)
        scale = (np.sqrt(area)[:, None] * sigmas[None, :]).reshape(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = np.where(labeled & (n_lab >= 2), np.sqrt(d2 / n_lab) / scale, np.nan)
        out.x[rows] = cx.reshape(r, k)
        out.y[rows] = cy.reshape(r, k)
        out.v[rows] = v_out.reshape(r, k)
        out.bbox[rows] = masked_median0(bb, present[..., None])
        out.area[rows] = area
        out.spread[rows] = spread.reshape(r, k)
        out.n_labeled[rows] = n_lab.reshape(r, k)
        out.n_members[rows] = present.sum(0)

    if loo is not None:
        # Every member left out at once: (M, R*K) arrays, row j = "without slot j".
        l_l = w_l - wlab
        l_a = w_a - w_k
        l_v = w_v - np.where(vis, w_k, 0.0)
        labeled = (2 * l_l >= l_a) & (l_l > 0)
        v_out = np.where(labeled, np.where(2 * l_v >= l_l, 2, 1), 0).astype(np.int8)
        if method == "learned":  # the others' learned consensus, as the consensus itself is built
            if parts is None:
                parts = learned_parts(masked_median0(ar, present))
            lx, ly = _learned_leave_one_out(parts, lab)
        elif method == "mean" or (m <= 3 and (weights is None or np.all(w_k == pres_k))):
            # the others' weighted mean; for <= 2 equal-weight points also their geometric median
            with np.errstate(invalid="ignore", divide="ignore"):
                lx = ((wlab * px).sum(0) - wlab * px) / l_l
                ly = ((wlab * py).sum(0) - wlab * py) / l_l
        else:
            lx, ly = np.empty((m, r * k)), np.empty((m, r * k))
            for j in range(m):  # loop over member slots
                wj = wlab.copy()
                wj[j] = 0.0
                lx[j], ly[j] = center(px, py, wj)
        lx = np.where(labeled, lx, 0.0)
        ly = np.where(labeled, ly, 0.0)
        n_oth = present.sum(0)[None, :] - present  # (M, R)
        if m <= 3:
            with np.errstate(invalid="ignore", divide="ignore"):
                l_area = (ar.sum(0, where=present) - np.where(present, ar, 0.0)) / n_oth
                l_bb = ((np.where(present[..., None], bb, 0.0).sum(0) - np.where(present[..., None], bb, 0.0))
                        / n_oth[..., None])
        else:
            l_area = np.stack([masked_median0(ar, present & (np.arange(m) != j)[:, None]) for j in range(m)])
            l_bb = np.stack([masked_median0(bb, (present & (np.arange(m) != j)[:, None])[..., None])
                             for j in range(m)])
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = (n_lab - lab.astype(np.int64)).reshape(m, r, k) / n_oth[..., None]
        # Rows (cluster, slot) with the slot filled and someone else in the cluster, cluster-major.
        sel = (present & keep[None, :]).T  # (R, M)
        q = np.count_nonzero(sel)
        dst = slice(loo_lo, loo_lo + q)

        def pick(a, tail):  # (M, R, *tail) -> (Q, *tail) in cluster-major order
            return np.swapaxes(a.reshape((m, r) + tail), 0, 1)[sel]

        loo.x[dst] = pick(lx, (k,))
        loo.y[dst] = pick(ly, (k,))
        loo.v[dst] = pick(v_out, (k,))
        loo.bbox[dst] = pick(l_bb, (4,))
        loo.area[dst] = pick(l_area, ())
        loo.n_labeled[dst] = pick((n_lab - lab).reshape(m, r, k), (k,))
        loo.n_members[dst] = pick(n_oth, ())
        loo.spread[dst] = pick(frac, (k,))  # others' labeled fraction rides in `spread`


@dataclass(frozen=True, eq=False)
class Consensus:
    """Consensus instances, one per cluster.

    Attributes
    ----------
    instances : InstanceBatch
        C consensus instances (``xy``, ``v``, ``bbox``, ``area``, ``image``;
        ``source`` 0, ``ids`` the cluster index). Unlabeled keypoints sit at 0, 0.
    spread : ndarray, shape (C, K)
        RMS distance of the labelers to the consensus position in units of
        ``sigma_k * sqrt(area)``; NaN with fewer than two labelers.
    n_labeled : ndarray, shape (C, K), int64
        Members who labeled each keypoint.
    support : ndarray, shape (C,), int64
        Members (annotators who drew the object).
    quorum : ndarray, shape (C,), int64
        Support needed for the cluster's image.
    accepted : ndarray, shape (C,), bool
        ``support >= quorum``: the object is in the consensus.
    clusters : Clusters
    undecided : ndarray, shape (C,), bool
        Its members disagreed on left and right with no majority: the
        orientation came from the annotators' history (`orientation`), and
        the object should not be trusted without another opinion.
    """

    instances: InstanceBatch
    spread: np.ndarray
    n_labeled: np.ndarray
    support: np.ndarray
    quorum: np.ndarray
    accepted: np.ndarray
    clusters: Clusters
    undecided: np.ndarray | None = None

    def __post_init__(self):
        if self.undecided is None:
            object.__setattr__(self, "undecided", np.zeros(self.support.shape[0], bool))

    def __len__(self) -> int:
        return self.support.shape[0]

    @property
    def xy(self) -> np.ndarray:
        """(C, K, 2) consensus positions."""
        return self.instances.xy

    @property
    def v(self) -> np.ndarray:
        """(C, K) int8 consensus visibility."""
        return self.instances.v


def _resolve_quorum(quorum, replicas: np.ndarray) -> np.ndarray:
    if quorum is None:
        return majority_quorum(replicas)
    q = np.asarray(quorum, dtype=np.int64)
    return np.broadcast_to(q, replicas.shape).copy()


def consensus_from_clusters(batch: InstanceBatch, clusters: Clusters, sigmas, *, quorum=None,
                            replicas=None, method: str = "median", weights=None, noise=None,
                            subtract_offsets: bool = False, reject: float = 9.0,
                            with_leave_one_out: bool = False):
    """Consensus of given clusters (see `build_consensus`).

    With ``with_leave_one_out`` the leave-one-out references are computed in
    the same pass over the members (shared gathers; see `leave_one_out`) and
    ``(Consensus, LeaveOneOut)`` is returned. ``method="learned"`` needs
    ``noise`` (a `NoiseModel`); its leave-one-out references stay geometric
    medians of the others.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    learned = None
    if method == "learned":
        if noise is None:
            raise ValueError('method "learned" needs a noise model')
        learned = _Learned(var=noise.weight_variance(subtract_offsets),
                           offset=noise.offset if subtract_offsets else None, reject=reject)
    sig = as_sigmas(sigmas, batch.num_keypoints)
    reps = image_replicas(batch) if replicas is None else np.asarray(replicas, dtype=np.int64)
    q = _resolve_quorum(quorum, reps)[clusters.image]
    c, k = len(clusters), batch.num_keypoints
    out = _Centers.empty(c, k)
    loo = _Centers.empty(int(clusters.support[clusters.support >= 2].sum()), k) if with_leave_one_out else None
    _kernel(batch, clusters.members, clusters.support, sig, method, weights, out, loo, learned)
    inst = InstanceBatch.from_components(
        out.x, out.y, out.v, out.bbox, out.area, clusters.image, np.zeros(c, np.int64),
        ids=np.arange(c), n_images=batch.n_images, n_sources=1, image_ids=batch.image_ids, validate=False)
    consensus = Consensus(instances=inst, spread=out.spread, n_labeled=out.n_labeled, support=clusters.support,
                          quorum=q, accepted=clusters.support >= q, clusters=clusters)
    if not with_leave_one_out:
        return consensus
    return consensus, _loo_result(batch, clusters, loo)


def build_consensus(batch: InstanceBatch, sigmas, *, threshold: float = 0.5, quorum=None,
                    replicas=None, method: str = "median", weights=None, pairs=None, **learned) -> Consensus:
    """Consensus instances of n annotators for every image of a batch.

    Parameters
    ----------
    batch : InstanceBatch
    sigmas : array_like, shape (K,)
    threshold : float
        Minimum `agreement_oks` between any two instances of one cluster.
    quorum : int or array_like of shape (n_images,), optional
        Support an object needs; default a strict majority of ``replicas``.
    replicas : array_like, shape (n_images,), optional
        Annotators assigned to each image; default those who drew anything
        on it (`image_replicas`).
    method : {"median", "mean", "learned"}
        Keypoint position: geometric median (robust; default), weighted
        mean (optimal for Gaussian errors when ``weights`` are the
        annotators' inverse error variances, see `annotator_reliability`),
        or "learned": per annotator and keypoint inverse-variance weights
        from a `NoiseModel` (``noise``, passed through the keyword
        arguments), gross clicks rejected, the geometric median where an
        annotator has too little history.
    weights : array_like, shape (n_sources,), optional
        Per-annotator weights for votes and positions.
    pairs : tuple of (a, b, similarity) arrays, optional
        Precomputed cross-annotator pair similarities (the pipeline reuses
        them); computed with `instance_pairs` + `pair_agreement` otherwise.

    Returns
    -------
    Consensus
    """
    from .batch import instance_pairs

    if pairs is None:
        a, b = instance_pairs(batch.image, batch.source, kind="cross")
        pairs = (a, b, pair_agreement(batch, a, b, sigmas))
    clusters = cluster_instances(batch, *pairs, threshold=threshold,
                                 priority=None if weights is None else weights)
    return consensus_from_clusters(batch, clusters, sigmas, quorum=quorum, replicas=replicas,
                                   method=method, weights=weights, **learned)


@dataclass(frozen=True, eq=False)
class LeaveOneOut:
    """Leave-one-out consensus for every member of a multi-member cluster.

    Attributes
    ----------
    instance : ndarray, shape (Q,), int64
        The member left out (position in the batch).
    cluster : ndarray, shape (Q,), int64
    reference : InstanceBatch
        Q instances: consensus of the cluster's *other* members.
    n_others : ndarray, shape (Q,), int64
    others_labeled : ndarray, shape (Q, K)
        Fraction of the other members who labeled each keypoint.
    """

    instance: np.ndarray
    cluster: np.ndarray
    reference: InstanceBatch
    n_others: np.ndarray
    others_labeled: np.ndarray

    def __len__(self) -> int:
        return self.instance.shape[0]


def _loo_rows(clusters: Clusters) -> tuple[np.ndarray, np.ndarray]:
    """(instance, cluster) of every member of a multi-member cluster, cluster-major."""
    sel = (clusters.members >= 0) & (clusters.support >= 2)[:, None]
    cl, slot = np.nonzero(sel)
    return clusters.members[cl, slot], cl


def _loo_result(batch: InstanceBatch, clusters: Clusters, loo: _Centers) -> LeaveOneOut:
    instance, cluster = _loo_rows(clusters)
    ref = InstanceBatch.from_components(
        loo.x, loo.y, loo.v, loo.bbox, loo.area, batch.image[instance], batch.source[instance],
        ids=batch.ids[instance], n_images=batch.n_images, n_sources=batch.n_sources, validate=False)
    return LeaveOneOut(instance=instance, cluster=cluster, reference=ref,
                       n_others=loo.n_members.astype(np.int64), others_labeled=loo.spread)


def leave_one_out(batch: InstanceBatch, clusters: Clusters, sigmas, *, method: str = "median",
                  weights=None) -> LeaveOneOut:
    """Consensus of each cluster without each of its members, all at once.

    Every member's reference uses the same rules as `build_consensus`
    (votes with ties to labeled/visible, geometric median or weighted
    mean, median box and area) applied to the other members only.

    Parameters
    ----------
    batch : InstanceBatch
    clusters : Clusters
    sigmas : array_like, shape (K,)
    method : {"median", "mean"}
    weights : array_like, shape (n_sources,), optional

    Returns
    -------
    LeaveOneOut
        One row per member of every cluster with at least two members,
        ordered by cluster, then member.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    sig = as_sigmas(sigmas, batch.num_keypoints)
    loo = _Centers.empty(int(clusters.support[clusters.support >= 2].sum()), batch.num_keypoints)
    _kernel(batch, clusters.members, clusters.support, sig, method, weights, None, loo)
    return _loo_result(batch, clusters, loo)
