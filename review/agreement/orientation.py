"""Left/right orientation of each object's members: who swapped, and what to un-mirror.

Annotators of one object may disagree about which side is left: one of them
mirrored the whole person (seen from behind taken as facing the camera) or
exchanged one limb pair. Averaging across the two orientations collapses
every left/right pair onto the body's center line, so before any consensus
is built each member is brought into its object's orientation:

* For every flip pair ``(i, j)`` and every two members ``a, b`` of an
  object, the *evidence* for exchanging one side's pair is a log-likelihood
  ratio: how much likelier the positions are with the pair crossed, for
  Gaussian clicks with the two annotators' scatter (COCO's, or their learned
  `noise.NoiseModel`; see `_pair_tests`). The members are split into the two
  orientations with the most evidence across the split (all ``2**(M-1)``
  splits of M members at once; pairs across a split share each member's own
  error, so their sum is scaled to that of the two sides' means). Two kinds
  of hypotheses are tested per object: each flip pair alone, and the whole
  skeleton mirrored (all pairs pooled, which catches a mirrored person even
  on pairs too close together to judge alone).
* If the evidence exceeds ``margin`` (and, given the annotators' swap
  rates, the prior odds of those annotators swapping), the members on the
  *smaller* side swapped: they are flagged, and their pairs (every pair for
  a mirrored member) are exchanged back for the consensus.
* When the sides are equal (two members who disagree, no third opinion),
  the orientation is *undecided*: the side whose annotators the history
  shows to swap more often is taken as the swapped one (with no history,
  the side without the object's first member), and the object is marked
  undecided so that it is never auto-accepted.

An annotator's history is their swap rate: how often they were on the
minority side of objects with a majority (three or more members), learned
from the batch itself plus any counts carried over from earlier scoring
(``prior``), with a Laplace prior of one swap in two objects.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from ._segments import CHUNK_ROWS, chunks
from .batch import InstanceBatch
from .clustering import Clusters
from .skeleton import Skeleton

__all__ = ["Orientation", "orient_members", "exchange_pairs"]

_MAX_ENUMERATED_MEMBERS = 12  # 2**11 orientations per object and flip pair
#: Default evidence for a swap: a likelihood ratio of e**4 ~ 55 to 1, against
#: the prior odds of a swap on a given pair (COCO: 1-2% of instances, one pair of eight).
SWAP_EVIDENCE = 4.0


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
        Objects with any split beyond the margin (decided or not).
    checked : ndarray, shape (S,), int64
        Instances of each annotator in objects with a majority (>= 3 members).
    swapped : ndarray, shape (S,), int64
        Of those, instances on the minority side.
    swap_rate : ndarray, shape (S,)
        ``(swapped + prior + 1) / (checked + prior + 2)``: the history used
        to settle undecided objects.
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


def _best_split(total: np.ndarray, terms: np.ndarray, config: np.ndarray, present: np.ndarray, margin: float):
    """Best orientation split of each object and hypothesis.

    Parameters
    ----------
    total : ndarray, shape (R, H, C)
        Test log-likelihood ratios summed over split member pairs, per
        object, hypothesis, configuration.
    terms : ndarray, shape (R, H, C)
        Number of comparisons behind each total.
    config : ndarray, shape (C, M), bool
    present : ndarray, shape (R, H, M), bool
        Members taking part in each hypothesis.

    Returns
    -------
    side : ndarray, shape (R, H, M), bool
        Members exchanged relative to member 0 in the best split.
    disputed : ndarray, shape (R, H), bool
        The split's evidence exceeds ``margin`` and both sides have members.
    evidence : ndarray, shape (R, H)
        Log-likelihood ratio of the split against no swap.
    """
    best = np.argmax(np.where(terms > 0, total, -np.inf), axis=2)  # (R, H)
    side = config[best] & present
    n1 = side.sum(2)
    n0 = present.sum(2) - n1
    # Four tests count each keypoint twice; and the a*b member pairs across a split share each
    # member's own error: for equal scatter the split's likelihood ratio (side mean against
    # side mean) is the pairwise sum times 2 / (a + b). Summing pairs as if independent
    # would make a sloppy annotator among many careful ones look like a swapper.
    with np.errstate(invalid="ignore", divide="ignore"):
        evidence = np.take_along_axis(total, best[..., None], 2)[..., 0] / np.maximum(n0 + n1, 1)
    return side, (evidence > margin) & (n0 > 0) & (n1 > 0), evidence


def _pair_columns(batch: InstanceBatch, fi: np.ndarray, fj: np.ndarray) -> dict:
    """Both sides of every flip pair, gathered once: x, y (N, F) and labeled (N, F) of each side."""
    take = lambda arr, cols: np.take(arr, cols, axis=1)  # noqa: E731 (fast column selection)
    return {"xi": take(batch.x, fi), "yi": take(batch.y, fi), "xj": take(batch.x, fj), "yj": take(batch.y, fj),
            "li": take(batch.labeled, fi), "lj": take(batch.labeled, fj), "area": batch.area}


def _pair_tests(cols: dict, a, b, inv_var, clip: float = 8.0):
    """Swap evidence between two instances, per flip pair, as log-likelihood ratios.

    A *test* takes one labeled keypoint ``u`` of one instance and both
    keypoints of the pair on the other, and asks how much likelier ``u``'s
    position is if it belongs with the *opposite* keypoint than with its
    namesake, for Gaussian clicks: ``(d(u, same)**2 - d(u, opposite)**2) / V``
    with ``V = (v_a + v_b) (sigma s)**2`` the two annotators' combined
    scatter. Four tests when both instances labeled both keypoints (twice
    the evidence of the pair), fewer, but still evidence, when one instance
    labeled one keypoint only. Each test is clipped to ``+-clip``, so that
    one gross click cannot decide a swap alone.

    Parameters
    ----------
    cols : dict
        `_pair_columns` of the batch.
    a, b : ndarray, shape (P,), int
    inv_var : ndarray, shape (P, F)
        ``1 / ((v_a + v_b) sigma**2)`` of each instance pair and flip pair
        (the two keypoints of a pair share their sigma).

    Returns
    -------
    gain : ndarray, shape (P, F)
        Sum of the valid tests.
    count : ndarray, shape (P, F)
        Number of valid tests.
    """
    inv = inv_var * (2.0 / (cols["area"][a] + cols["area"][b]))[:, None]
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
    gain = sum(np.where(ok, np.clip(g * inv, -clip, clip), 0.0) for ok, g in tests)
    count = sum(ok.astype(np.float64) for ok, _ in tests)
    return gain, count


def _splits(batch: InstanceBatch, cols: dict, mem: np.ndarray, sk: Skeleton, config, cut, margin: float,
            noise_var=None):
    """Best splits of a chunk of objects: per flip pair (F hypotheses) and mirrored (one).

    ``noise_var`` (S, K): the annotators' error variances, to judge each
    comparison against the scatter its two annotators are known for.

    Returns
    -------
    side, disputed, gain, present : as `_best_split`, with H = F + 1 (the mirror last)
    """
    m = mem.shape[1]
    fi, fj = sk.flip_pairs[:, 0], sk.flip_pairs[:, 1]
    sig2 = sk.sigmas[fi] * sk.sigmas[fj]  # (F,): partners share their sigma
    si, sj = np.triu_indices(m, 1)
    slot_of_pair = np.zeros((si.shape[0], m))  # (T, M): the two member slots of each slot pair
    slot_of_pair[np.arange(si.shape[0]), si] = slot_of_pair[np.arange(si.shape[0]), sj] = 1.0
    r, n_flip = mem.shape[0], fi.shape[0]
    gain = np.zeros((r, n_flip, si.shape[0]))  # (R, F, T): summed test gains
    tests = np.zeros((r, n_flip, si.shape[0]))  # number of tests behind them
    for t in range(si.shape[0]):  # loop over member-slot pairs (<= M(M-1)/2)
        rows = mem[:, sj[t]] >= 0
        ia, ib = mem[rows, si[t]], mem[rows, sj[t]]
        if noise_var is None:  # COCO's scatter for both
            inv_var = np.broadcast_to(1.0 / (2.0 * sig2), (ia.shape[0], fi.shape[0]))
        else:
            va, vb = noise_var[batch.source[ia]], noise_var[batch.source[ib]]
            inv_var = 2.0 / ((va[:, fi] + va[:, fj] + vb[:, fi] + vb[:, fj]) * sig2)
        g, n = _pair_tests(cols, ia, ib, inv_var)
        gain[rows, :, t] = g
        tests[rows, :, t] = n
    # members taking part in a hypothesis: at least one test with someone
    part_p = (tests > 0).astype(np.float64) @ slot_of_pair > 0  # (R, F, M)
    part_m = part_p.any(1, keepdims=True)
    total = np.concatenate([gain @ cut.T, gain.sum(1, keepdims=True) @ cut.T], axis=1)
    terms = np.concatenate([tests @ cut.T, tests.sum(1, keepdims=True) @ cut.T], axis=1)
    present = np.concatenate([part_p, part_m], axis=1)
    side, disputed, mean_gain = _best_split(total, terms, config, present, margin)
    return side, disputed, mean_gain, present, part_p


def orient_members(batch: InstanceBatch, clusters: Clusters, skeleton, *, margin: float = SWAP_EVIDENCE,
                   prior=None, noise=None, objects=None, rates=None) -> Orientation:
    """Decide each object's orientation and who swapped (see module docstring).

    Parameters
    ----------
    batch : InstanceBatch
    clusters : Clusters
    skeleton : Skeleton (or anything `Skeleton.coerce` accepts)
    margin : float
        Evidence a split needs, as a log-likelihood ratio (natural log) of
        "swapped" against "as drawn", summed over the split's comparisons.
    prior : tuple (checked (S,), swapped (S,)), optional
        Counts from earlier scoring of the same annotators (their history).
    noise : NoiseModel, optional
        The annotators' learned per-keypoint variances: each comparison is
        judged against its two annotators' scatter (unknown: COCO's).
    objects : array_like of int, optional
        Clusters that may hold a swap (e.g. those a first pass disputed);
        default all with two members or more. The history counts every
        object with a majority either way.
    rates : array_like, shape (S,), optional
        Swap rates from a first pass: a split must then beat the prior odds
        of its swapper's annotators swapping (an annotator who rarely swaps
        needs stronger evidence than one who often does), and ``margin``
        is only the floor.

    Returns
    -------
    Orientation
    """
    sk = Skeleton.coerce(skeleton)
    n, n_src, n_flip = len(batch), batch.n_sources, sk.flip_pairs.shape[0]
    m = clusters.members.shape[1]
    none = np.zeros(0, np.int64)
    empty = Orientation(exchanged=np.zeros((n, n_flip), bool), flagged=(none, none, np.zeros(0)),
                        undecided=np.zeros(len(clusters), bool), disputed=none, checked=np.zeros(n_src, np.int64),
                        swapped=np.zeros(n_src, np.int64), swap_rate=np.full(n_src, 0.5),
                        flag_counts=np.zeros(n_src, np.int64))
    if n_flip == 0 or m < 2:
        return empty
    if m > _MAX_ENUMERATED_MEMBERS:
        raise ValueError(f"swap check enumerates orientations of up to {_MAX_ENUMERATED_MEMBERS} annotators")
    config, cut = _orientations(m)
    noise_var = None
    if noise is not None:
        noise_var = np.where(np.isfinite(noise.var), np.maximum(noise.var, noise.floor), 1.0)
    majority = clusters.members[clusters.support >= 3]
    checked = np.bincount(batch.source[majority[majority >= 0]], minlength=n_src)
    candidates = np.flatnonzero(clusters.support >= 2) if objects is None else np.asarray(objects, np.int64)
    cols = _pair_columns(batch, sk.flip_pairs[:, 0], sk.flip_pairs[:, 1])
    found = []
    for sl in chunks(candidates.shape[0], CHUNK_ROWS * 8):
        split = _splits(batch, cols, clusters.members[candidates[sl]], sk, config, cut, margin, noise_var)
        keep = split[1].any(1)  # only objects with a split beyond the margin go on
        found.append((candidates[sl][keep],) + tuple(a[keep] for a in split))
    multi, side, disputed, gain, present, part = (np.concatenate([f[i] for f in found]) if found else None
                                                  for i in range(6))
    p_checked, p_swapped = (np.zeros(n_src), np.zeros(n_src)) if prior is None else (
        np.asarray(prior[0], np.float64), np.asarray(prior[1], np.float64))
    if multi is None:  # nobody disputed anything
        return replace(empty, checked=checked.astype(np.int64), swap_rate=(p_swapped + 1.0) / (checked + p_checked + 2.0))
    mem = clusters.members[multi]  # (R, M)

    # The swapper of a split is its minority; on an even split, the side whose annotators swap
    # more often (summed log-odds of their swap rates). The history: `rates` if given, else
    # the prior's counts and this batch's splits beyond the flat margin.
    n1 = side.sum(2)
    n0 = present.sum(2) - n1
    tie = n1 == n0
    src = np.where(mem >= 0, batch.source[np.maximum(mem, 0)], 0)  # (R, M)
    minority = np.where((n1 < n0)[..., None], side, ~side & present)
    counted = (clusters.support[multi] >= 3)[:, None] & (mem >= 0)

    def history(flagged):  # (R, H, M) -> swapped (S,), swap rate (S,)
        swapped = np.bincount(src[counted & (flagged & ~tie[..., None]).any(1)], minlength=n_src)
        return swapped, (swapped + p_swapped + 1.0) / (checked + p_checked + 2.0)

    rate = history(disputed[..., None] & minority)[1] if rates is None else np.asarray(rates, np.float64)
    logit = np.log(rate / (1.0 - rate))[src] * (mem >= 0)  # (R, M)
    on_side = np.where(side, logit[:, None, :], 0.0).sum(2)
    off_side = np.where(present & ~side, logit[:, None, :], 0.0).sum(2)
    tie_side = np.where((off_side > on_side)[..., None], ~side & present, side)  # equal: not member 0's side
    swapper = np.where(tie[..., None], tie_side, minority)  # (R, H, M)
    if rates is not None:  # Bayes: the evidence must beat the prior odds of these annotators swapping
        q = rate[None, :] / np.r_[np.full(n_flip, float(n_flip)), 1.0][:, None]  # (H, S): per pair, or a mirror
        prior_logit = np.log(q / (1.0 - q))[:, src].transpose(1, 0, 2)  # (R, H, M)
        need = np.maximum(margin, -np.where(swapper, prior_logit, 0.0).sum(2))
        disputed = (gain > need) & (n0 > 0) & (n1 > 0)
    swapper &= disputed[..., None]
    swapped, swap_rate = history(swapper)
    undecided_split = disputed & tie

    per_pair, mirrored = swapper[:, :n_flip], swapper[:, n_flip]  # (R, F, M), (R, M)
    flag = per_pair | (mirrored[:, None, :] & part)  # a mirrored member, on each pair it takes part in
    score = np.maximum(np.where(per_pair, gain[:, :n_flip, None], -np.inf),
                       np.where(mirrored[:, None, :], gain[:, n_flip:, None], -np.inf))
    rr, ff, ss = np.nonzero(flag)
    exchanged = np.zeros((n, n_flip), bool)
    rp, fp, sp = np.nonzero(per_pair)
    exchanged[mem[rp, sp], fp] = True
    rm, sm = np.nonzero(mirrored)
    exchanged[mem[rm, sm]] = True  # a mirrored member: every pair, half-labeled ones too
    undecided = np.zeros(len(clusters), bool)
    undecided[multi] = undecided_split.any(1)
    return Orientation(exchanged=exchanged, flagged=(mem[rr, ss], ff, score[rr, ff, ss]), undecided=undecided,
                       disputed=multi[disputed.any(1)],
                       checked=checked.astype(np.int64), swapped=swapped.astype(np.int64), swap_rate=swap_rate,
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
