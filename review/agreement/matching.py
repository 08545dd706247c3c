"""One-to-one matching of instances between two annotators (Hungarian).

Matching maximizes total similarity (minimizes ``sum(1 - oks)``) over
one-to-one assignments, then keeps pairs at or above a threshold. Pairs
below the threshold are given zero similarity *before* the assignment, so a
pair that could never be accepted cannot displace one that could.

Projects have tens of thousands of tiny problems (1 to 5 people per image),
for which calling `scipy.optimize.linear_sum_assignment` once per image
costs more in Python overhead than in arithmetic. `assign_blocks` therefore
solves all problems of a batch at once: one-row or one-column problems by a
grouped argmax, small ones by exhaustive enumeration of all assignments
(vectorized over every problem of the same shape — exact, the same optimum
as the Hungarian algorithm), and only large ones by scipy, one call each.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import linear_sum_assignment

from .batch import InstanceBatch, instance_pairs
from .oks import pair_agreement

__all__ = ["Match", "SourceMatch", "match_instances", "assign_blocks", "match_sources"]


@dataclass(frozen=True)
class Match:
    """Result of matching the rows and columns of one similarity matrix.

    Attributes
    ----------
    rows, cols : ndarray, shape (M,), int64
        Matched pairs, ``similarity[rows[i], cols[i]] >= threshold``.
    similarity : ndarray, shape (M,)
    unmatched_rows : ndarray, shape (m - M,), int64
    unmatched_cols : ndarray, shape (n - M,), int64
    """

    rows: np.ndarray
    cols: np.ndarray
    similarity: np.ndarray
    unmatched_rows: np.ndarray
    unmatched_cols: np.ndarray


def _gate(similarity, threshold: float) -> np.ndarray:
    """Candidate mask: finite, positive and at least ``threshold``."""
    s = np.asarray(similarity, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(s) & (s >= threshold) & (s > 0)


def match_instances(similarity, threshold: float = 0.5) -> Match:
    """Hungarian matching of one image's instances from two sources.

    Parameters
    ----------
    similarity : array_like, shape (m, n)
        Agreement (e.g. `agreement_oks`) between source A's ``m`` and source
        B's ``n`` instances. NaN means "cannot match".
    threshold : float
        Minimum similarity of an accepted match (OKS 0.5 is COCO's loosest
        true-positive threshold).

    Returns
    -------
    Match
    """
    s = np.asarray(similarity, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError("similarity must be a 2-D matrix")
    m, n = s.shape
    rr, cc = np.nonzero(_gate(s, threshold))
    matched = assign_blocks(np.zeros(rr.size, np.int64), rr, cc, s[rr, cc], threshold)
    rows, cols = rr[matched], cc[matched]
    order = np.argsort(rows, kind="stable")
    rows, cols = rows[order], cols[order]
    return Match(rows=rows, cols=cols, similarity=s[rows, cols],
                 unmatched_rows=np.setdiff1d(np.arange(m), rows),
                 unmatched_cols=np.setdiff1d(np.arange(n), cols))


@lru_cache(maxsize=64)
def _injections(m: int, n: int) -> np.ndarray:
    """(T, m) int64: every injective map of m rows into n columns, T = n!/(n-m)!."""
    return np.array(list(itertools.permutations(range(n), m)), dtype=np.int64).reshape(-1, m)


def _n_injections(m: np.ndarray, n: np.ndarray) -> np.ndarray:
    """n! / (n - m)! elementwise (m <= n), saturating at a large value."""
    out = np.ones_like(n, dtype=np.float64)
    for i in range(int(m.max(initial=0))):  # loop over rows of the largest problem (<= max_dim)
        out *= np.where(i < m, n - i, 1)
    return out


def _local_rank(block: np.ndarray, key: np.ndarray):
    """Dense rank of ``key`` within each block, and the number of distinct keys per block.

    Returns
    -------
    rank, size : ndarray, shape (E,), int64
    """
    o = np.lexsort((key, block))
    bs, ks = block[o], key[o]
    new_block = np.r_[True, bs[1:] != bs[:-1]]
    new_group = new_block | np.r_[True, ks[1:] != ks[:-1]]
    gid = np.cumsum(new_group) - 1
    bid = np.cumsum(new_block) - 1
    first = gid[new_block]
    n_groups = np.diff(np.r_[first, gid[-1] + 1 if gid.size else 0])
    rank = np.empty_like(gid)
    size = np.empty_like(gid)
    rank[o] = gid - first[bid]
    size[o] = n_groups[bid]
    return rank, size


def assign_blocks(block, row, col, similarity, threshold: float = 0.5, *,
                  max_enumeration: int = 720) -> np.ndarray:
    """Solve many independent assignment problems given as sparse entries.

    Each problem ("block", e.g. an image) is a similarity matrix given by its
    entries; absent entries have similarity 0. Within each block a
    maximum-total-similarity one-to-one assignment is found and entries
    below ``threshold`` are dropped.

    Parameters
    ----------
    block : array_like, shape (E,), int
        Problem of each entry.
    row, col : array_like, shape (E,), int
        Row and column keys of each entry (any integers, e.g. instance or
        cluster ids; they are ranked within each block). Each (block, row,
        col) at most once.
    similarity : array_like, shape (E,)
    threshold : float
    max_enumeration : int
        Problems with at most this many possible assignments
        (``n! / (n - m)!`` for ``m <= n``; 720 covers 6 x 6) are solved by
        vectorized enumeration, larger ones by
        `scipy.optimize.linear_sum_assignment`.

    Returns
    -------
    matched : ndarray, shape (E,), bool
        Entries in the optimal assignment with similarity >= threshold.
    """
    block = np.asarray(block, dtype=np.int64)
    row = np.asarray(row, dtype=np.int64)
    col = np.asarray(col, dtype=np.int64)
    sim = np.asarray(similarity, dtype=np.float64)
    matched = np.zeros(sim.shape[0], dtype=bool)
    cand = np.flatnonzero(_gate(sim, threshold))
    if cand.size == 0:
        return matched
    blk, r, c, s = block[cand], row[cand], col[cand], sim[cand]
    ri, m = _local_rank(blk, r)
    ci, n = _local_rank(blk, c)

    # One row or one column: the best entry of the block.
    star = (m == 1) | (n == 1)
    if star.any():
        e = np.flatnonzero(star)
        o = e[np.lexsort((-s[e], blk[e]))]
        first = np.r_[True, blk[o][1:] != blk[o][:-1]]
        matched[cand[o[first]]] = True

    rest = np.flatnonzero(~star)
    if rest.size == 0:
        return matched
    # Orient every problem with rows <= columns.
    flip = m[rest] > n[rest]
    rr = np.where(flip, ci[rest], ri[rest])
    cc = np.where(flip, ri[rest], ci[rest])
    mm = np.where(flip, n[rest], m[rest])
    nn = np.where(flip, m[rest], n[rest])
    small = _n_injections(mm, nn) <= max_enumeration
    ub, bidx = np.unique(blk[rest], return_inverse=True)

    # Enumeration, all problems of one shape at once.
    shape_key = mm * 1_000_003 + nn
    for key in np.unique(shape_key[small]):
        sel = np.flatnonzero(small & (shape_key == key))
        mb, nb = int(mm[sel[0]]), int(nn[sel[0]])
        probs, pidx = np.unique(bidx[sel], return_inverse=True)
        dense = np.zeros((probs.size, mb, nb))
        entry = np.full((probs.size, mb, nb), -1, dtype=np.int64)
        dense[pidx, rr[sel], cc[sel]] = s[rest[sel]]
        entry[pidx, rr[sel], cc[sel]] = cand[rest[sel]]
        perms = _injections(mb, nb)  # (T, mb)
        totals = dense[:, np.arange(mb), perms].sum(-1)  # (B, T)
        best = perms[np.argmax(totals, axis=1)]  # (B, mb)
        chosen = entry[np.arange(probs.size)[:, None], np.arange(mb), best]
        matched[chosen[chosen >= 0]] = True

    # Large problems: scipy, one call per problem.
    big = np.flatnonzero(~small)
    if big.size:
        o = big[np.argsort(bidx[big], kind="stable")]
        starts = np.flatnonzero(np.r_[True, bidx[o][1:] != bidx[o][:-1]])
        for lo, hi in zip(starts, np.r_[starts[1:], o.size]):
            sel = o[lo:hi]
            mb, nb = int(mm[sel[0]]), int(nn[sel[0]])
            dense = np.zeros((mb, nb))
            entry = np.full((mb, nb), -1, dtype=np.int64)
            dense[rr[sel], cc[sel]] = s[rest[sel]]
            entry[rr[sel], cc[sel]] = cand[rest[sel]]
            ar, ac = linear_sum_assignment(dense, maximize=True)
            chosen = entry[ar, ac]
            matched[chosen[chosen >= 0]] = True
    return matched


@dataclass(frozen=True)
class SourceMatch:
    """Matching of two annotators' instances over every image of a batch.

    Attributes
    ----------
    a, b : ndarray, shape (M,), int64
        Matched instance positions (source A, source B).
    similarity : ndarray, shape (M,)
    unmatched_a, unmatched_b : ndarray, int64
        Positions of instances of A (resp. B) left without a partner.
    """

    a: np.ndarray
    b: np.ndarray
    similarity: np.ndarray
    unmatched_a: np.ndarray
    unmatched_b: np.ndarray


def match_sources(batch: InstanceBatch, source_a: int, source_b: int, sigmas,
                  threshold: float = 0.5) -> SourceMatch:
    """Match source A's instances to source B's in every image of a batch.

    Similarity is `agreement_oks`; all images are solved together by
    `assign_blocks`.

    Parameters
    ----------
    batch : InstanceBatch
    source_a, source_b : int
        Annotator indices.
    sigmas : array_like, shape (K,)
    threshold : float

    Returns
    -------
    SourceMatch
    """
    keep = np.flatnonzero((batch.source == source_a) | (batch.source == source_b))
    i, j = instance_pairs(batch.image[keep], batch.source[keep], kind="cross")
    i, j = keep[i], keep[j]
    swap = batch.source[i] != source_a
    a = np.where(swap, j, i)
    b = np.where(swap, i, j)
    sim = pair_agreement(batch, a, b, sigmas)
    hit = assign_blocks(batch.image[a], a, b, sim, threshold)
    a, b, sim = a[hit], b[hit], sim[hit]
    all_a = np.flatnonzero(batch.source == source_a)
    all_b = np.flatnonzero(batch.source == source_b)
    return SourceMatch(a=a, b=b, similarity=sim,
                       unmatched_a=np.setdiff1d(all_a, a), unmatched_b=np.setdiff1d(all_b, b))
