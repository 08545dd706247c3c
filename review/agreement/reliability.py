"""How reliable each annotator is, measured without anyone grading themselves.

* **OKS against the leave-one-out consensus.** Each of an annotator's
  instances is scored (`agreement_oks`) against the consensus of the *other*
  annotators of that object. Whether an object exists is decided by the
  full vote (the quorum); an annotator who skipped an accepted object scores
  0 for it, and an instance the quorum rejected scores 0 too.
* **OKS against gold**, where gold instances exist: Hungarian matching per
  image, unmatched gold and unmatched instances scoring 0.
* **Systematic bias** per keypoint, in units of ``sigma_k * s`` (``y``
  grows downwards: a negative ``dy`` means "too high"). Measured against a
  leave-one-out consensus, one biased annotator would shift the others'
  references (with three annotators, by half their bias) and be blamed on
  them; instead the mean offset between every two annotators,
  ``E[x_a - x_b] = bias_a - bias_b``, is solved for the individual biases
  by least squares, and the solution, fixed only up to a common shift, is
  centered on the median annotator: one annotator's habit stays theirs.
  Offsets beyond ``bias_clip`` sigmas are left out, so that a few swaps do
  not masquerade as bias.
* **Error variance and weight.** For two annotators ``a, b`` of the same
  object, ``|x_a - x_b|**2 / (s sigma_k)**2`` has expectation
  ``v_a + v_b``, where ``v`` is each annotator's own error variance in
  COCO units (``v = 1``: as precise as COCO's annotators). A robust mean of
  each annotator pair's disagreement (``median / ln 2``, exact for Gaussian
  errors and insensitive to swaps) gives one equation per pair of
  annotators; least squares over all pairs separates the individual ``v``
  (the "three-cornered hat" of instrument calibration). ``1 / v``
  normalized to mean 1, times the share of the objects the annotator drew
  (``recall``: a missed object counts 0), is the annotator's weight — so
  someone who labels nothing can never be the most reliable annotator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import lsqr

from ._segments import (CHUNK_ROWS, stable_group_order, add_sorted, chunks, group_sum, grouped_median, join_runs,
                        sorted_unique)
from .batch import InstanceBatch
from .consensus import Consensus, LeaveOneOut
from .matching import assign_blocks
from .oks import pair_agreement
from .skeleton import as_sigmas

__all__ = ["Reliability", "annotator_reliability", "annotator_error_variance", "annotator_bias",
           "default_assignments", "missed_objects"]

_LN2 = np.log(2.0)
_CHUNK = CHUNK_ROWS


@dataclass(frozen=True, eq=False)
class Reliability:
    """Per-annotator reliability (``S`` annotators, ``K`` keypoints).

    Attributes
    ----------
    oks : ndarray, shape (S,)
        Mean OKS against the leave-one-out consensus; missed objects and
        instances the quorum rejected count 0. NaN without data.
    n_scored : ndarray, shape (S,), int64
        Matched + missed + rejected.
    matched_oks : ndarray, shape (S,)
        Mean OKS over the annotator's instances of accepted objects only.
    keypoint_oks : ndarray, shape (S, K)
        Per-keypoint similarity over those instances.
    pck : ndarray, shape (S,)
        Mean PCK@t against the leave-one-out consensus.
    missed, rejected : ndarray, shape (S,), int64
        Accepted objects the annotator did not draw; instances the quorum
        did not accept.
    gold_oks : ndarray, shape (S,)
        Mean OKS against gold (NaN where no gold image was annotated).
    n_gold : ndarray, shape (S,), int64
    bias : ndarray, shape (S, K, 2)
        Systematic offset (dx, dy) in units of ``sigma_k * s``, relative to
        the median annotator (`annotator_bias`).
    bias_count : ndarray, shape (S, K), int64
        Pairwise offsets behind each bias.
    error_var : ndarray, shape (S,)
        Own error variance in COCO units (1 = as precise as COCO's annotators).
    recall : ndarray, shape (S,)
        Accepted objects the annotator drew over those of their images
        (``drawn / (drawn + missed)``); NaN without any.
    weight : ndarray, shape (S,)
        ``1 / error_var`` normalized to mean 1 (1 where unknown), times
        ``recall`` (0 for an annotator who drew none of their objects).
    """

    oks: np.ndarray
    n_scored: np.ndarray
    matched_oks: np.ndarray
    keypoint_oks: np.ndarray
    pck: np.ndarray
    missed: np.ndarray
    rejected: np.ndarray
    gold_oks: np.ndarray
    n_gold: np.ndarray
    bias: np.ndarray
    bias_count: np.ndarray
    error_var: np.ndarray
    weight: np.ndarray
    recall: np.ndarray | None = None

    def bias_findings(self, names=None, *, source_ids=None, min_sigma: float = 0.5,
                      min_count: int = 20) -> list[dict]:
        """Systematic biases worth telling the annotator, largest first.

        Parameters
        ----------
        names : sequence of str, length K, optional
        source_ids : array_like, shape (S,), optional
            The annotators' ids (e.g. user ids): findings name people, not
            positions in the engine's tables.

        Returns
        -------
        list of dict with ``annotator`` (``source_ids[s]``, else ``s``),
        ``keypoint``, ``name``, ``dx``, ``dy`` (sigma units), ``count`` and a
        ``text`` such as ``"places left_hip 0.8 sigma too high"``.
        """
        s_idx, k_idx = np.nonzero((self.bias_count >= min_count)
                                  & (np.abs(self.bias) >= min_sigma).any(-1))
        out = []
        for s, k in zip(s_idx.tolist(), k_idx.tolist()):  # reporting only: a short list
            dx, dy = (float(c) for c in self.bias[s, k])
            name = names[k] if names is not None else f"keypoint {k}"
            parts = []
            if abs(dy) >= min_sigma:
                parts.append(f"{abs(dy):.1f} sigma too {'high' if dy < 0 else 'low'}")
            if abs(dx) >= min_sigma:
                parts.append(f"{abs(dx):.1f} sigma too far {'left' if dx < 0 else 'right'}")
            who = s if source_ids is None else np.asarray(source_ids)[s].item()
            out.append({"annotator": who, "keypoint": k, "name": name, "dx": dx, "dy": dy,
                        "count": int(self.bias_count[s, k]),
                        "text": f"places {name} " + " and ".join(parts)})
        return sorted(out, key=lambda f: -max(abs(f["dx"]), abs(f["dy"])))


def default_assignments(batch: InstanceBatch) -> tuple[np.ndarray, np.ndarray]:
    """(image, source) of every annotator with at least one instance in an image.

    Returns
    -------
    image, source : ndarray, shape (A,), int64
    """
    s = max(batch.n_sources, 1)
    key = sorted_unique(batch.image * s + batch.source)
    return key // s, key % s


def missed_objects(batch: InstanceBatch, consensus: Consensus, assignments=None) -> tuple[np.ndarray, np.ndarray]:
    """Who did not draw which accepted object of an image they were assigned.

    Parameters
    ----------
    batch : InstanceBatch
    consensus : Consensus
    assignments : tuple (image (A,), source (A,)), optional
        Default `default_assignments` (then only annotators who drew
        something else on the image can be seen to miss an object).

    Returns
    -------
    cluster, source : ndarray, shape (Q,), int64
        Ordered by cluster, then annotator.
    """
    a_img, a_src = default_assignments(batch) if assignments is None else (
        np.asarray(assignments[0], np.int64), np.asarray(assignments[1], np.int64))
    s = max(batch.n_sources, 1)
    acc = np.flatnonzero(consensus.accepted)
    ci, ai = join_runs(consensus.clusters.image[acc], a_img)
    key = sorted_unique(acc[ci] * s + a_src[ai])  # an assignment listed twice is one
    cluster, source = key // s, key % s
    members = consensus.clusters.members[cluster]  # (Q, M)
    drew = (np.where(members >= 0, batch.source[np.maximum(members, 0)], -1) == source[:, None]).any(1)
    return cluster[~drew], source[~drew]


def _key_counts(image, source, n_sources, query_image, query_source) -> np.ndarray:
    """How often each queried (image, source) occurs among the given (image, source) rows."""
    s = max(n_sources, 1)
    key = image * s + source
    if key.shape[0] and np.all(key[1:] >= key[:-1]):
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        uniq, counts = key[starts], np.diff(np.r_[starts, key.shape[0]])
    else:
        uniq, counts = np.unique(key, return_counts=True)
    q = query_image * s + query_source
    if uniq.size == 0:
        return np.zeros(q.shape, np.int64)
    pos = np.minimum(np.searchsorted(uniq, q), uniq.size - 1)
    return np.where(uniq[pos] == q, counts[pos], 0)


def annotator_error_variance(batch: InstanceBatch, a, b, sigmas, *, min_pairs: int = 10,
                             max_pairs: int = 1 << 18):
    """Each annotator's own error variance from pairwise disagreements.

    Parameters
    ----------
    batch : InstanceBatch
    a, b : array_like, shape (P,), int
        Instances of the same object by different annotators.
    sigmas : array_like, shape (K,)
    min_pairs : int
        Annotator pairs with fewer keypoint observations are ignored.
    max_pairs : int
        Larger inputs are evenly subsampled to this many pairs (a median of
        ~4 million values is as good as one of 12 million, at a third of
        the cost).

    Returns
    -------
    error_var : ndarray, shape (S,)
        In COCO units (squared error over ``(sigma_k s)**2``); NaN where unknown.
    n : ndarray, shape (S,), int64
        Keypoint observations behind each estimate.
    """
    sig = as_sigmas(sigmas, batch.num_keypoints)
    n_src = batch.n_sources
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.shape[0] > max_pairs:  # an even sample: medians of millions of values gain nothing
        keep = np.linspace(0, a.shape[0] - 1, max_pairs).astype(np.int64)
        a, b = a[keep], b[keep]
    types, ptype, _ = _pair_types(batch.source[a], batch.source[b], n_src)
    groups, vals = [], []
    for lo in range(0, a.shape[0], _CHUNK):  # chunks: temporaries stay in cache
        ia, ib = a[lo:lo + _CHUNK], b[lo:lo + _CHUNK]
        both = batch.labeled[ia] & batch.labeled[ib]
        inv_s2 = 2.0 / (batch.area[ia] + batch.area[ib])
        dx = batch.x[ia] - batch.x[ib]
        dy = batch.y[ia] - batch.y[ib]
        r2 = (dx * dx + dy * dy) * inv_s2[:, None] / sig ** 2
        groups.append(np.repeat(ptype[lo:lo + _CHUNK], both.sum(1)))
        vals.append(r2[both])
    vals = np.concatenate(vals) if vals else np.zeros(0)
    groups = np.concatenate(groups) if groups else np.zeros(0, np.int64)
    fin = np.isfinite(vals)
    med, cnt = grouped_median(groups[fin], vals[fin], types.size)
    ok = (cnt >= min_pairs) & np.isfinite(med)
    types, m, cnt = types[ok], med[ok] / _LN2, cnt[ok]
    n_obs = np.zeros(n_src, dtype=np.int64)
    var = np.full(n_src, np.nan)
    if types.size == 0:
        return var, n_obs
    t_lo, t_hi = types // n_src, types % n_src
    np.add.at(n_obs, t_lo, cnt)
    np.add.at(n_obs, t_hi, cnt)
    rows = np.repeat(np.arange(types.size), 2)
    cols = np.stack([t_lo, t_hi], 1).ravel()
    w = np.sqrt(cnt.astype(np.float64))
    design = coo_matrix((np.repeat(w, 2), (rows, cols)), shape=(types.size, n_src)).tocsr()
    sol = lsqr(design, w * m, atol=1e-12, btol=1e-12)[0]
    seen = n_obs > 0
    # floor: a tiny positive share of the typical disagreement (exactly agreeing annotators included)
    var[seen] = np.maximum(sol[seen], 1e-3 * max(float(np.median(m)), 1e-6))
    return var, n_obs


def _pair_types(source_a: np.ndarray, source_b: np.ndarray, n_src: int):
    """Unordered annotator pair of each instance pair: (types (T,), type index (P,), sign (P,)).

    ``sign`` is +1 when ``source_a`` is the lower index of the pair, -1 otherwise.
    """
    lo, hi = np.minimum(source_a, source_b), np.maximum(source_a, source_b)
    key = lo * n_src + hi
    if n_src * n_src <= 1 << 20:  # dense index, no sort
        used = np.bincount(key, minlength=n_src * n_src) > 0
        types, ptype = np.flatnonzero(used), (np.cumsum(used) - 1)[key]
    else:
        types, ptype = np.unique(key, return_inverse=True)
    return types, ptype, np.where(source_a <= source_b, 1.0, -1.0)


def annotator_bias(batch: InstanceBatch, a, b, sigmas, *, clip: float = 4.0):
    """Per-annotator, per-keypoint systematic offsets, from pairwise offsets.

    Parameters
    ----------
    batch : InstanceBatch
    a, b : array_like, shape (P,), int
        Instances of the same object by different annotators.
    sigmas : array_like, shape (K,)
    clip : float
        Offsets longer than this many ``sigma_k * s`` are left out.

    Returns
    -------
    bias : ndarray, shape (S, K, 2)
        Mean (dx, dy) offset in units of ``sigma_k * s``, relative to the
        median annotator; NaN where unknown.
    count : ndarray, shape (S, K), int64
        Pairwise offsets behind each estimate.
    """
    sig = as_sigmas(sigmas, batch.num_keypoints)
    n_src, k = batch.n_sources, batch.num_keypoints
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    types, ptype, sign = _pair_types(batch.source[a], batch.source[b], n_src)
    n_t = types.size
    sums = np.zeros((n_t, k, 2))
    counts = np.zeros((n_t, k))
    for sl in chunks(a.shape[0]):
        ia, ib = a[sl], b[sl]
        unit = (np.sqrt(0.5 * (batch.area[ia] + batch.area[ib]))[:, None] * sig) / sign[sl][:, None]
        dx = (batch.x[ia] - batch.x[ib]) / unit  # oriented: lower annotator index minus higher
        dy = (batch.y[ia] - batch.y[ib]) / unit
        use = batch.labeled[ia] & batch.labeled[ib] & (dx * dx + dy * dy <= clip * clip)
        t = ptype[sl]
        sums[..., 0] += group_sum(t, np.where(use, dx, 0.0), n_t)
        sums[..., 1] += group_sum(t, np.where(use, dy, 0.0), n_t)
        counts += group_sum(t, use.astype(np.float64), n_t)
    bias = np.full((n_src, k, 2), np.nan)
    count = np.zeros((n_src, k), dtype=np.int64)
    if n_t == 0:
        return bias, count
    lo, hi = types // n_src, types % n_src
    np.add.at(count, lo, counts.astype(np.int64))
    np.add.at(count, hi, counts.astype(np.int64))
    # One sparse least-squares problem for all (keypoint, axis): unknown (s, k, axis),
    # equation per (pair type, k, axis): bias[lo] - bias[hi] = mean offset, weight sqrt(count).
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts[..., None]
    ok = counts > 0
    t_idx, k_idx = np.nonzero(ok)
    rows = np.arange(t_idx.size * 2).reshape(-1, 2)  # (E, axis)
    w = np.sqrt(counts[t_idx, k_idx])[:, None] * np.ones(2)
    col = lambda s: (s[:, None] * k + k_idx[:, None]) * 2 + np.arange(2)  # noqa: E731
    design = coo_matrix((np.r_[w.ravel(), -w.ravel()],
                         (np.r_[rows.ravel(), rows.ravel()], np.r_[col(lo[t_idx]).ravel(), col(hi[t_idx]).ravel()])),
                        shape=(rows.size, n_src * k * 2)).tocsr()
    sol = lsqr(design, (w * mean[t_idx, k_idx]).ravel(), atol=1e-12, btol=1e-12)[0].reshape(n_src, k, 2)
    known = count > 0
    sol = np.where(known[..., None], sol, np.nan)
    has = known.any(0)  # keypoints someone measured
    sol[:, has] -= np.nanmedian(sol[:, has], axis=0, keepdims=True)  # relative to the median annotator
    return sol, count


def annotator_reliability(batch: InstanceBatch, consensus: Consensus, loo: LeaveOneOut, sigmas, *,
                          assignments=None, gold: InstanceBatch | None = None,
                          pck_threshold: float = 0.1, gold_threshold: float = 0.5,
                          bias_clip: float = 4.0, member_pairs=None, loo_scores=None, noise=None) -> Reliability:
    """Score every annotator of a batch (see module docstring).

    Parameters
    ----------
    batch : InstanceBatch
    consensus : Consensus
        Its clusters define the objects; ``accepted`` which exist.
    loo : LeaveOneOut
        References for the members (`leave_one_out`).
    sigmas : array_like, shape (K,)
    assignments : tuple (image (A,), source (A,)), optional
        Who was assigned which image (default `default_assignments`); an
        assigned annotator who drew nothing misses every accepted object.
    gold : InstanceBatch, optional
        Gold instances in the same image index space.
    pck_threshold : float
    gold_threshold : float
        OKS needed to match an instance to a gold instance.
    bias_clip : float
        Offsets beyond this many sigmas are left out of the bias.
    member_pairs : tuple (a, b), optional
        In-cluster instance pairs (default: from ``consensus.clusters``).
    loo_scores : tuple (oks (Q,), keypoint (Q, K)), optional
        `pair_agreement` of every leave-one-out row with its member, if
        already computed.
    noise : NoiseModel, optional
        A learned noise model (`noise.learn_noise`): its spreads and
        offsets are the error variance and bias (otherwise both are solved
        from pairwise disagreements, as described above).

    Returns
    -------
    Reliability
    """
    sig = as_sigmas(sigmas, batch.num_keypoints)
    n_src, k = batch.n_sources, batch.num_keypoints
    clusters = consensus.clusters
    acc_inst = consensus.accepted[clusters.of]  # (N,) instance belongs to an accepted object
    a_img, a_src = default_assignments(batch) if assignments is None else (
        np.asarray(assignments[0], np.int64), np.asarray(assignments[1], np.int64))

    # Missed accepted objects, and instances the quorum rejected.
    acc_per_image = np.bincount(clusters.image[consensus.accepted], minlength=batch.n_images)
    drawn = _key_counts(batch.image[acc_inst], batch.source[acc_inst], n_src, a_img, a_src)
    missed = np.bincount(a_src, weights=np.maximum(acc_per_image[a_img] - drawn, 0),
                         minlength=n_src).astype(np.int64)
    rejected = np.bincount(batch.source[~acc_inst], minlength=n_src).astype(np.int64)

    # Members of accepted objects against their leave-one-out reference,
    # rows sorted by annotator so that every sum is a chunked reduceat.
    q = np.flatnonzero(consensus.accepted[loo.cluster])
    q = q[stable_group_order(batch.source[loo.instance[q]], n_src)]
    acc = {name: np.zeros((n_src,) + shape) for name, shape in (
        ("oks", ()), ("n", ()), ("kp", (k,)), ("kp_n", (k,)), ("pck", ()), ("pck_n", ()))}
    ref = loo.reference
    for lo in range(0, q.shape[0], _CHUNK):
        qc = q[lo:lo + _CHUNK]
        inst = loo.instance[qc]
        src = batch.source[inst]
        if loo_scores is None:
            oks, per = pair_agreement(batch, inst, qc, sig, other=ref, keypoints=True)
        else:
            oks, per = loo_scores[0][qc], loo_scores[1][qc]
        known = ~np.isnan(per)
        lab_i, lab_r = batch.labeled[inst], ref.labeled[qc]
        dx = batch.x[inst] - ref.x[qc]
        dy = batch.y[inst] - ref.y[qc]
        bb = ref.bbox[qc]
        tol = pck_threshold * np.maximum(bb[:, 2], bb[:, 3])
        d2 = dx * dx + dy * dy
        n_ref = lab_r.sum(1)
        hit = (d2 <= (tol * tol)[:, None]) & lab_i & lab_r
        has = n_ref > 0
        add_sorted(acc["oks"], src, oks)
        add_sorted(acc["n"], src, np.ones_like(oks))
        add_sorted(acc["kp"], src, np.where(known, per, 0.0))
        add_sorted(acc["kp_n"], src, known.astype(np.float64))
        add_sorted(acc["pck"], src, np.where(has, hit.sum(1) / np.maximum(n_ref, 1), 0.0))
        add_sorted(acc["pck_n"], src, has.astype(np.float64))
    n_scored = acc["n"].astype(np.int64) + missed + rejected

    # Error variance from in-object pairs, and weights.
    if member_pairs is None:
        _, pa, pb = clusters.member_pairs()
    else:
        pa, pb = member_pairs
    if noise is not None:  # learned jointly with the consensus (`noise.learn_noise`): no second estimate
        var = noise.error_var()
        bias = np.where(noise.count[..., None] > 0, noise.offset, np.nan)
        bias_count = noise.count
    else:
        keep = acc_inst[pa]
        var, _ = annotator_error_variance(batch, pa[keep], pb[keep], sig)
        bias, bias_count = annotator_bias(batch, pa[keep], pb[keep], sig, clip=bias_clip)
    weight = np.ones(n_src)
    seen = np.isfinite(var)
    if seen.any():
        inv = 1.0 / var[seen]
        weight[seen] = np.clip(inv / inv.mean(), 0.1, 10.0)
    drew = acc["n"]
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = drew / (drew + missed)
    weight = weight * np.where(np.isfinite(recall), recall, 1.0)

    gold_oks, n_gold = _gold_scores(batch, gold, sig, a_img, a_src, gold_threshold)
    with np.errstate(invalid="ignore", divide="ignore"):
        return Reliability(
            oks=acc["oks"] / n_scored, n_scored=n_scored, matched_oks=acc["oks"] / acc["n"],
            keypoint_oks=acc["kp"] / acc["kp_n"], pck=acc["pck"] / acc["pck_n"],
            missed=missed, rejected=rejected, gold_oks=gold_oks, n_gold=n_gold,
            bias=bias, bias_count=bias_count, error_var=var, weight=weight, recall=recall)


def _gold_scores(batch, gold, sig, a_img, a_src, threshold):
    """Per-annotator mean OKS against gold: (S,) scores and (S,) counts."""
    n_src = batch.n_sources
    if gold is None or len(gold) == 0:
        return np.full(n_src, np.nan), np.zeros(n_src, np.int64)
    gi, bi = join_runs(gold.image, batch.image)
    sims = pair_agreement(batch, bi, gi, sig, other=gold)
    block = batch.image[bi] * max(n_src, 1) + batch.source[bi]
    hit = assign_blocks(block, gi, bi, sims, threshold)
    src_hit = batch.source[bi[hit]]
    score = np.bincount(src_hit, weights=sims[hit], minlength=n_src)
    # per assignment on a gold image: gold objects + own instances - matches
    g_count = np.bincount(gold.image, minlength=batch.n_images)
    on_gold = g_count[a_img] > 0
    ai, as_ = a_img[on_gold], a_src[on_gold]
    own = _key_counts(batch.image, batch.source, n_src, ai, as_)
    matches = _key_counts(batch.image[bi[hit]], src_hit, n_src, ai, as_)
    denom = np.bincount(as_, weights=g_count[ai] + own - matches, minlength=n_src)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, score / denom, np.nan), denom.astype(np.int64)
