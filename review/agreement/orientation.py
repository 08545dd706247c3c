"""Left/right orientation of each object's members: who swapped, and what to un-mirror.

Annotators of one object may disagree about which side is left: one of them
mirrored the whole person (seen from behind taken as facing the camera) or
exchanged one limb pair. Averaging across the two orientations collapses
every left/right pair onto the body's center line, so before any consensus
is built each member is brought into its object's orientation:

* **Evidence.** For Gaussian clicks and an unknown truth, the
  log-likelihood of an orientation of an object's members is a sum over
  member pairs, ``-1/2 sum k_ab |p_a - p_b|**2`` with ``k_ab = w_a w_b / W``
  (``w`` a member's precision: the inverse of their annotator's learned
  variance on that pair, `noise.NoiseModel`, COCO's without one; ``W`` the
  members' total). So a sloppy annotator's disagreement counts for less,
  and each member's own error is counted once, not once per partner. Per
  flip pair ``(i, j)``, all a member pair says is the gain ``same - crossed``
  of squared distances (`_pair_gains`, clipped per keypoint so that one
  gross click cannot decide alone). Every orientation of the members
  (``2**M`` assignments, enumerated at once) is scored under two kinds of
  hypotheses: each flip pair alone, and the whole skeleton mirrored (all
  pairs pooled, which catches a mirrored person even on pairs too close
  to judge alone).
* **Prior.** Each annotator swaps with their own rate; a swap is a single
  pair (each pair with its own share) or a mirror. Rates and shares are
  learned by EM, as Dawid-Skene learns class priors: decide, count (soft
  counts: the posterior of every member, over objects with a majority),
  re-estimate, until the decisions settle. Earlier scoring's counts
  (``prior``) pool in. An annotator who rarely swaps needs much stronger
  evidence than one who often does; a pair no one swaps alone (in a
  project where only whole people get mirrored) needs more than one that
  is often swapped.
* **Decision.** The most probable orientation, with a missed swap weighed
  `MISS_COST` times a false flag (a missed swap leaves a wrong pair in the
  consensus unseen; a false flag costs a reviewer a glance), and at least
  ``margin`` of evidence. Its swapped members are flagged (on the pairs
  they take part in), and their pairs (every pair of a mirrored member)
  are exchanged back for the consensus. So the flag lands on the swapper,
  never on the partners.
* **Undecided.** When the sides are equal (two members who disagree, no
  third opinion), only the rates choose: the annotator whose history shows
  more swaps is taken as the swapper (with equal histories, the one who is
  not the object's first member), and the object is marked undecided so
  that it is never auto-accepted.

``swapped`` and ``checked`` (the history carried to later scoring) count
how often each annotator was on the minority side of objects with a
majority (three or more members); ``swap_rate`` is the learned rate, from
a prior of one swap in 30 instances (`PRIOR_INSTANCES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ._segments import CHUNK_ROWS, chunks
from .batch import InstanceBatch
from .clustering import Clusters
from .skeleton import Skeleton

__all__ = ["Orientation", "orient_members", "exchange_pairs"]

_MAX_ENUMERATED_MEMBERS = 12  # 2**11 orientations per object and flip pair
#: Least evidence for a swap, whatever the prior: a likelihood ratio of e**2 ~ 7 to 1.
SWAP_EVIDENCE = 2.0
#: Bound of one test (one keypoint against a pair), in squared sigma units.
CLIP = 16.0
#: A missed swap leaves a wrong pair in the consensus, unseen; a false flag costs a reviewer a
#: glance: a member is flagged once the posterior odds of their swap exceed 1 to MISS_COST.
MISS_COST = 8.0
#: Swap rates start from a prior worth PRIOR_INSTANCES instances with PRIOR_SWAPS swaps among them
#: (COCO found 1-2% of human annotations to be outliers, mostly swaps; a little more here, so that
#: a swapper stands out after a few dozen objects). Two annotators alone never form a majority:
#: their rates stay near it, and only clear evidence makes a swap.
PRIOR_SWAPS, PRIOR_INSTANCES = 1.0, 30.0


@dataclass(frozen=True, eq=False)
class Orientation:
    """Which members of each object swapped, and what the history said.

    Attributes
    ----------
    exchanged : ndarray, shape (N, F), bool
        Flip pair ``f`` of instance ``n`` must be exchanged to bring it into
        its object's orientation (all pairs of a mirrored instance).
    flagged : tuple (instance (G,), pair (G,), score (G,))
        Swap findings: the swapper's instance, the flip pair (index into the
        skeleton's ``flip_pairs``) and the split's evidence (log-likelihood ratio).
    undecided : ndarray, shape (C,), bool
        Objects whose orientation rested on the history (an even split).
    disputed : ndarray, shape (D,), int64
        Objects where someone swapped (decided or undecided).
    checked : ndarray, shape (S,), int64
        Instances of each annotator in objects with a majority (>= 3 members).
    swapped : ndarray, shape (S,), int64
        Of those, instances on the minority side.
    swap_rate : ndarray, shape (S,)
        Each annotator's learned rate of swapping (EM over the posterior
        swaps in objects with a majority, plus ``prior`` and `PRIOR_SWAPS`):
        the prior odds of a swap, and what settles undecided objects.
    flag_counts : ndarray, shape (S,), int64
        Swap findings (instance, pair) on each annotator's instances.
    """

    exchanged: np.ndarray
    flagged: tuple
    undecided: np.ndarray
    disputed: np.ndarray
    checked: np.ndarray
    swapped: np.ndarray
    swap_rate: np.ndarray
    flag_counts: np.ndarray


@lru_cache(maxsize=16)
def _orientations(m: int):
    """Relative left/right orientations of m members, up to a global flip.

    Returns
    -------
    config : ndarray, shape (2**(m-1), m), bool
        Member ``s`` is exchanged in configuration ``c`` (member 0 never is).
    cut : ndarray, shape (2**(m-1), T), float
        1 where slot pair ``t`` (in ``np.triu_indices(m, 1)`` order) is split
        by the configuration.
    """
    config = (np.arange(1 << (m - 1))[:, None] >> np.arange(m)[None, :] - 1 & 1).astype(bool)
    config[:, 0] = False
    si, sj = np.triu_indices(m, 1)
    return config, (config[:, si] != config[:, sj]).astype(np.float64)


def _mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for a stack ``a`` (..., P) and a small matrix ``b`` (P, Q), as P broadcast products.

    A stacked matmul of tiny matrices loops over the stack, and one tall 2-D
    product wakes BLAS threads that spin on a shared machine; P <= 2**M is small.
    """
    out = a[..., 0, None] * b[0]
    for p in range(1, b.shape[0]):
        out += a[..., p, None] * b[p]
    return out


def _pair_columns(batch: InstanceBatch, sk: Skeleton) -> dict:
    """Both sides of every flip pair, gathered once: x, y (N, F) and labeled (N, F) of each side."""
    fi, fj = sk.flip_pairs[:, 0], sk.flip_pairs[:, 1]
    # single precision: pixel differences of a few hundred, judged against margins of a few units
    take = lambda arr, cols: np.take(arr, cols, axis=1).astype(np.float32)  # noqa: E731 (column selection)
    return {"xi": take(batch.x, fi), "yi": take(batch.y, fi), "xj": take(batch.x, fj), "yj": take(batch.y, fj),
            "li": np.take(batch.labeled, fi, axis=1), "lj": np.take(batch.labeled, fj, axis=1),
            "area": batch.area.astype(np.float32),
            "inv_sig2": (1.0 / (sk.sigmas[fi] * sk.sigmas[fj])).astype(np.float32)}  # partners share their sigma


def _pair_gains(cols: dict, a, b, clip: float = CLIP):
    """Swap evidence between two instances, per flip pair: the gain ``G`` in squared sigma units.

    For Gaussian clicks and an unknown truth, the log-likelihood of an
    orientation is ``-1/2 sum_{a<b} k_ab |p_a - p_b|**2`` over member pairs
    (``k_ab`` in `_weights`), so all a pair of members says about crossing
    flip pair ``(i, j)`` between them is ``G = same - crossed``:
    ``d(a_i, b_i) + d(a_j, b_j) - d(a_i, b_j) - d(a_j, b_i)`` (squared
    distances over ``(sigma s)**2``) when both labeled both keypoints, or
    ``d(a_i, b_i) - d(a_i, b_j)`` when one labeled ``i`` only. It is summed
    from four one-point *tests* (each keypoint against both of the other
    instance's, twice the pair's ``G``), each clipped to ``+-clip``, so that
    one gross click cannot decide a swap alone.

    Parameters
    ----------
    cols : dict
        `_pair_columns` of the batch.
    a, b : ndarray, shape (P,), int

    Returns
    -------
    gain : ndarray, shape (P, F)
    count : ndarray, shape (P, F)
        Number of valid tests (0, 1 or 4).
    """
    inv = (2.0 / (cols["area"][a] + cols["area"][b]))[:, None] * cols["inv_sig2"]
    axi, ayi, axj, ayj = cols["xi"][a], cols["yi"][a], cols["xj"][a], cols["yj"][a]
    bxi, byi, bxj, byj = cols["xi"][b], cols["yi"][b], cols["xj"][b], cols["yj"][b]
    lai, laj, lbi, lbj = cols["li"][a], cols["lj"][a], cols["li"][b], cols["lj"][b]

    def d2(ux, uy, vx, vy):
        return (ux - vx) ** 2 + (uy - vy) ** 2

    d_ii = d2(axi, ayi, bxi, byi)  # a_i vs b_i ...
    d_jj = d2(axj, ayj, bxj, byj)
    d_ij = d2(axi, ayi, bxj, byj)  # a_i vs b_j
    d_ji = d2(axj, ayj, bxi, byi)  # a_j vs b_i
    b_both, a_both = lbi & lbj, lai & laj
    tests = ((lai & b_both, d_ii - d_ij), (laj & b_both, d_jj - d_ji),
             (lbi & a_both, d_ii - d_ji), (lbj & a_both, d_jj - d_ij))
    gain = sum(np.where(ok, np.clip(g * inv, -clip, clip), np.float32(0)) for ok, g in tests)
    count = sum(ok.astype(np.int8) for ok, _ in tests)
    return gain / np.where(count == 4, np.float32(2), np.float32(1)), count


def _gains(cols: dict, mem: np.ndarray):
    """Gains of a chunk of objects: (R, F, T) per member-slot pair, and who takes part (R, F, M)."""
    r, m = mem.shape
    si, sj = np.triu_indices(m, 1)
    n_flip = cols["inv_sig2"].shape[0]
    gain = np.zeros((r, n_flip, si.shape[0]))
    part = np.zeros((r, n_flip, m), bool)  # at least one test with someone
    for t in range(si.shape[0]):  # loop over member-slot pairs (<= M(M-1)/2); members fill slots from 0
        rows = np.flatnonzero(mem[:, sj[t]] >= 0)
        gain[rows, :, t], tests = _pair_gains(cols, mem[rows, si[t]], mem[rows, sj[t]])
        part[rows, :, si[t]] |= tests > 0
        part[rows, :, sj[t]] |= tests > 0
    return gain, part


def _weights(src: np.ndarray, part: np.ndarray, pair_var: np.ndarray) -> np.ndarray:
    """(R, F, T) coefficients ``k_ab = w_a w_b / W`` of the orientation log-likelihood.

    ``w = 2 / v`` is a member's precision (per axis, in sigma units) on the
    flip pair, from their annotator's learned variance ``v``, and ``W`` the
    sum over the members taking part: pooling the members' points into one
    weighted mean makes a sloppy annotator's comparisons count less, and
    counts each member's own error once rather than once per partner.
    """
    m = src.shape[1]
    si, sj = np.triu_indices(m, 1)
    w = np.where(part, 2.0 / pair_var[src].transpose(0, 2, 1), 0.0)  # (R, F, M)
    total = w.sum(2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, w[..., si] * w[..., sj] / total, 0.0)


def _decide(total, as_is, flipped, present, config, cost, margin):
    """The most probable orientation of each object and hypothesis, a swap's odds raised by its cost.

    Parameters
    ----------
    total : ndarray, shape (R, H, C)
        Evidence (log-likelihood ratio) of each configuration.
    as_is, flipped : ndarray, shape (R, H, C)
        Evidence plus the log prior odds of configuration c's members
        swapping, or of the others.
    present : ndarray, shape (R, H, M), bool

    Returns
    -------
    swapper : ndarray, shape (R, H, M), bool
    evidence : ndarray, shape (R, H)
    """
    best = np.argmax(np.maximum(as_is, flipped) + cost, axis=2)  # configuration 0 swaps nobody
    evidence = np.take_along_axis(total, best[..., None], 2)[..., 0]
    other = np.take_along_axis(flipped > as_is, best[..., None], 2)  # (R, H, 1)
    swapper = (config[best] ^ other) & present
    swapper &= ((evidence > margin) & swapper.any(2))[..., None]
    return swapper, evidence


def orient_members(batch: InstanceBatch, clusters: Clusters, skeleton, *, margin: float = SWAP_EVIDENCE,
                   prior=None, noise=None, objects=None, rates=None, miss_cost: float = MISS_COST,
                   iterations: int = 5) -> Orientation:
    """Decide each object's orientation and who swapped (see module docstring).

    Parameters
    ----------
    batch : InstanceBatch
    clusters : Clusters
    skeleton : Skeleton (or anything `Skeleton.coerce` accepts)
    margin : float
        Least evidence for a swap, as a log-likelihood ratio (natural log)
        of "swapped" against "as drawn", whatever the prior odds.
    prior : tuple (checked (S,), swapped (S,)), optional
        Counts from earlier scoring of the same annotators (their history).
    noise : NoiseModel, optional
        The annotators' learned per-keypoint variances: each member's points
        are weighted by their annotator's precision (unknown: COCO's).
    objects : array_like of int, optional
        Clusters that may hold a swap; default all with two members or more.
    rates : array_like, shape (S,), optional
        Starting swap rates (default: from ``prior`` and `PRIOR_SWAPS`).
    miss_cost : float
        How much worse a missed swap is than a false flag (`MISS_COST`).
    iterations : int
        Most EM passes over the swap rates (it stops once they change by
        less than 2%, or 1e-4).

    Returns
    -------
    Orientation
    """
    sk = Skeleton.coerce(skeleton)
    n, n_src, n_flip = len(batch), batch.n_sources, sk.flip_pairs.shape[0]
    m = clusters.members.shape[1]
    none = np.zeros(0, np.int64)
    p_checked, p_swapped = (np.zeros(n_src), np.zeros(n_src)) if prior is None else (
        np.asarray(prior[0], np.float64), np.asarray(prior[1], np.float64))
    majority = clusters.members[clusters.support >= 3]
    checked = np.bincount(batch.source[majority[majority >= 0]], minlength=n_src)
    rate = ((p_swapped + PRIOR_SWAPS) / (checked + p_checked + PRIOR_INSTANCES) if rates is None
            else np.asarray(rates, np.float64))
    empty = Orientation(exchanged=np.zeros((n, n_flip), bool), flagged=(none, none, np.zeros(0)),
                        undecided=np.zeros(len(clusters), bool), disputed=none, checked=checked.astype(np.int64),
                        swapped=np.zeros(n_src, np.int64), swap_rate=rate, flag_counts=np.zeros(n_src, np.int64))
    if n_flip == 0 or m < 2:
        return empty
    if m > _MAX_ENUMERATED_MEMBERS:
        raise ValueError(f"swap check enumerates orientations of up to {_MAX_ENUMERATED_MEMBERS} annotators")
    config, cut = _orientations(m)
    fi, fj = sk.flip_pairs[:, 0], sk.flip_pairs[:, 1]
    pair_var = np.ones((n_src, n_flip))
    if noise is not None:
        v = np.where(np.isfinite(noise.var), np.maximum(noise.var, noise.floor), 1.0)
        pair_var = 0.5 * (v[:, fi] + v[:, fj])
    candidates = np.flatnonzero(clusters.support >= 2) if objects is None else np.asarray(objects, np.int64)
    cols = _pair_columns(batch, sk)
    found = []
    for sl in chunks(candidates.shape[0], CHUNK_ROWS * 8):
        mem = clusters.members[candidates[sl]]
        gain, part = _gains(cols, mem)
        keep = (gain > 0).any((1, 2))  # no member pair looks crossed on any flip pair: nothing to decide
        objs, mem, gain, part = candidates[sl][keep], mem[keep], gain[keep], part[keep]
        src = np.where(mem >= 0, batch.source[np.maximum(mem, 0)], 0)
        llr = 0.5 * _weights(src, part, pair_var) * gain  # (R, F, T)
        total = _mul(np.concatenate([llr, llr.sum(1, keepdims=True)], axis=1), cut.T)  # (R, H, C)
        # no split beyond the margin: no swap can be decided, and what the object adds to the
        # swap counts is small (they learn from the objects that may hold a swap)
        keep = (total > margin).any((1, 2))
        found.append((objs[keep], src[keep], total[keep], llr[keep],
                      np.concatenate([part, part.any(1, keepdims=True)], 1)[keep]))
    if not found or sum(f[0].size for f in found) == 0:
        return empty
    multi, src, total, llr, present = (np.concatenate([f[i] for f in found]) for i in range(5))
    mem = clusters.members[multi]
    counted = (clusters.support[multi] >= 3)[:, None] & (mem >= 0)  # (R, M): objects with a majority
    cfg = config.astype(np.float64)
    cost = np.log(miss_cost) * (np.arange(config.shape[0]) > 0)

    # EM over swap rates (Dawid-Skene's class priors): the posterior of every member's orientation
    # given the evidence and the rates, then the rates from the posteriors, until they settle
    share, mirror_share = np.full(n_flip, 1.0 / n_flip), 0.5
    majority = present & counted[:, None, :]
    done, step = False, 0
    while True:
        # (S, H): flip pair f swapped alone, or the whole skeleton mirrored (a mirror is the last
        # hypothesis' to find: the pair hypotheses ask about a member not mirrored)
        pi = np.concatenate([rate[:, None] * (1.0 - mirror_share) * share[None, :],
                             rate[:, None] * mirror_share], axis=1)
        pi = np.clip(pi, 1e-9, 0.49)
        logit = np.where(present, np.log(pi / (1.0 - pi))[src].transpose(0, 2, 1), 0.0)  # (R, H, M)
        # log prior of configuration c's members swapped (as_is) or the others (flipped), less
        # the log prior of nobody swapping (the same for every configuration)
        as_is = total + _mul(logit, cfg.T)  # (R, H, C)
        flipped = total + logit.sum(2, keepdims=True) - (as_is - total)
        if done:  # the decisions, with the settled rates
            break
        # soft counts: hard ones would miss the swaps too weak to decide and learn too low a rate;
        # from objects with a majority only, as an even split is decided by the rates themselves
        top = np.maximum(as_is.max(2, keepdims=True), flipped.max(2, keepdims=True))
        p_as, p_fl = np.exp(as_is - top), np.exp(flipped - top)  # (R, H, C) unnormalized posteriors
        p_fl_sum = p_fl.sum(2, keepdims=True)
        post = (_mul(p_as - p_fl, cfg) + p_fl_sum) / (p_as.sum(2, keepdims=True) + p_fl_sum)  # (R, H, M)
        post *= majority
        p_mirror = post[:, n_flip]
        p_single = post[:, :n_flip] * (1.0 - p_mirror[:, None, :])
        single = p_single.sum((0, 2))
        p_any = 1.0 - np.prod(1.0 - p_single, axis=1) * (1.0 - p_mirror)
        swapped_soft = np.bincount(src.ravel(), weights=p_any.ravel(), minlength=n_src)
        new_rate = (swapped_soft + p_swapped + PRIOR_SWAPS) / (checked + p_checked + PRIOR_INSTANCES)
        share = (single + 1.0) / (single.sum() + n_flip)
        mirror_share = (p_mirror.sum() + 1.0) / (p_mirror.sum() + single.sum() + 2.0)
        step += 1
        done = step >= iterations or np.allclose(new_rate, rate, rtol=0.02, atol=1e-4)
        rate = new_rate
    # Who mirrored the whole person first; then each pair of the members as un-mirrored (a
    # mirrored member's crossing of every pair reversed), so that a pair never contradicts the mirror.
    mirrored, mirror_evidence = _decide(total[:, n_flip:], as_is[:, n_flip:], flipped[:, n_flip:],
                                        present[:, n_flip:], config, cost, margin)
    mirrored = mirrored[:, 0]  # (R, M)
    si, sj = np.triu_indices(m, 1)
    turned = mirrored[:, si] ^ mirrored[:, sj]  # (R, T): one side of the member pair mirrored
    pair_total = _mul(np.where(turned[:, None, :], -llr, llr), cut.T)  # (R, F, C)
    prior_as_is = as_is[:, :n_flip] - total[:, :n_flip]
    per_pair, evidence = _decide(pair_total, pair_total + prior_as_is,
                                 pair_total + (flipped[:, :n_flip] - total[:, :n_flip]), present[:, :n_flip],
                                 config, cost, margin)
    swapper = np.concatenate([per_pair, mirrored[:, None, :]], axis=1)  # (R, H, M)
    n1 = swapper.sum(2)
    tie = n1 == present.sum(2) - n1
    swapped = np.bincount(src[(swapper & ~tie[..., None] & counted[:, None, :]).any(1)], minlength=n_src)
    disputed = swapper.any(2)

    # a mirrored member is flagged on each pair it takes part in, unless a pair of it, un-mirrored,
    # is crossed again (then that pair was drawn right)
    drawn = mirrored[:, None, :] & present[:, :n_flip]
    flag = drawn ^ per_pair
    score = np.where(per_pair, evidence[..., None], mirror_evidence[:, :, None])
    rr, ff, ss = np.nonzero(flag)
    exchanged = np.zeros((n, n_flip), bool)
    rm, sm = np.nonzero(mirrored)
    exchanged[mem[rm, sm]] = True  # a mirrored member: every pair, half-labeled ones too
    rp, fp, sp = np.nonzero(per_pair)
    exchanged[mem[rp, sp], fp] ^= True
    undecided = np.zeros(len(clusters), bool)
    undecided[multi] = (disputed & tie).any(1)
    return Orientation(exchanged=exchanged, flagged=(mem[rr, ss], ff, score[rr, ff, ss]), undecided=undecided,
                       disputed=multi[disputed.any(1)], checked=checked.astype(np.int64),
                       swapped=swapped.astype(np.int64), swap_rate=rate,
                       flag_counts=np.bincount(batch.source[mem[rr, ss]], minlength=n_src).astype(np.int64))


def exchange_pairs(batch: InstanceBatch, exchanged: np.ndarray, flip_pairs) -> InstanceBatch:
    """The batch with the marked flip pairs exchanged (instances brought into their object's orientation).

    Parameters
    ----------
    batch : InstanceBatch
    exchanged : ndarray, shape (N, F), bool
    flip_pairs : ndarray, shape (F, 2), int

    Returns
    -------
    InstanceBatch
        Same positions, ids and index spaces; the input itself when nothing is exchanged.
    """
    rows, pair = np.nonzero(exchanged)
    if rows.size == 0:
        return batch
    flip_pairs = np.asarray(flip_pairs, np.int64)
    i, j = flip_pairs[pair, 0], flip_pairs[pair, 1]
    x, y, v = batch.x.copy(), batch.y.copy(), batch.v.copy()
    for arr in (x, y, v):
        arr[rows, i], arr[rows, j] = arr[rows, j], arr[rows, i].copy()
    return batch._with(x=x, y=y, v=v, bbox=batch.bbox, area=batch.area, image=batch.image,
                       source=batch.source, ids=batch.ids)
