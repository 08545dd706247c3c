"""Group the instances that several annotators drew for the same object.

With ``n`` annotators per image, the instances of one person form a
*cluster*: at most one instance per annotator, similar to the members on
average by at least ``threshold`` and to *every* member by at least
``min_link`` (half the threshold by default) — so a cluster is never held
together by a chain of merely similar neighbours, yet one sloppy member
does not push a careful annotator's instance out into a cluster of its own.

Clusters are grown annotator by annotator, in every image at once: the
first annotator's instances seed clusters; each next annotator's instances
are matched (Hungarian, via `assign_blocks`) to the existing clusters with
score = mean similarity to the members, admissible only if the similarity
to every member clears ``min_link``; unmatched instances start new
clusters. The loop runs over annotator *ranks within an image* (at most the
number of annotators per image), never over images, pairs or instances.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._segments import rank_in_runs, run_lengths
from .batch import InstanceBatch
from .matching import assign_blocks
from .oks import box_iou, pair_agreement

__all__ = ["Clusters", "cluster_instances", "clusters_from_labels", "mirror_tolerant"]


@dataclass(frozen=True, eq=False)
class Clusters:
    """A partition of a batch's instances into per-object clusters.

    Attributes
    ----------
    of : ndarray, shape (N,), int64
        Cluster of each instance.
    members : ndarray, shape (C, M), int64
        Instance positions of each cluster, left-aligned, padded with -1;
        ``M`` is the largest cluster size. Clusters are ordered by image.
    image : ndarray, shape (C,), int64
    support : ndarray, shape (C,), int64
        Number of members (annotators who drew the object).
    """

    of: np.ndarray
    members: np.ndarray
    image: np.ndarray
    support: np.ndarray

    def __len__(self) -> int:
        return self.members.shape[0]

    def member_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every pair of members of every cluster.

        Returns
        -------
        cluster, a, b : ndarray, shape (P,), int64
            Ordered by cluster (hence by image), then member slots.
        """
        m = self.members.shape[1]
        si, sj = np.triu_indices(m, 1)
        a = self.members[:, si]
        b = self.members[:, sj]
        c, t = np.nonzero(b >= 0)  # members are left-aligned: slot j filled => slot i filled
        return c, a[c, t], b[c, t]


def clusters_from_labels(labels: np.ndarray, image: np.ndarray, order_key: np.ndarray | None = None) -> Clusters:
    """Build `Clusters` from a cluster label per instance.

    Parameters
    ----------
    labels : ndarray, shape (N,), int
        Any integer label per instance; instances sharing a label (and
        image) form a cluster.
    image : ndarray, shape (N,), int
    order_key : ndarray, shape (N,), optional
        Order of members inside a cluster (default: position).

    Returns
    -------
    Clusters
        Clusters renumbered 0..C-1 in order of (image, first appearance).
    """
    n = labels.shape[0]
    key = np.arange(n) if order_key is None else order_key
    by_label = np.argsort(labels, kind="stable")
    starts, lengths = run_lengths(labels[by_label])
    first = by_label[starts]  # first member (lowest position) of each label
    inv = np.empty(n, dtype=np.int64)
    inv[by_label] = np.repeat(np.arange(starts.size), lengths)
    # cluster order: by image, then by the position of the first member
    corder = np.lexsort((first, image[first]))
    rank = np.empty_like(corder)
    rank[corder] = np.arange(corder.size)
    of = rank[inv]
    o = np.lexsort((key, of))
    pos = rank_in_runs(of[o])
    c = corder.size
    size = np.bincount(of, minlength=c)
    members = np.full((c, int(size.max(initial=0))), -1, dtype=np.int64)
    members[of[o], pos] = o
    return Clusters(of=of, members=members, image=image[first][corder], support=size.astype(np.int64))


def cluster_instances(batch: InstanceBatch, a, b, similarity, threshold: float = 0.5,
                      priority=None, min_link: float | None = None) -> Clusters:
    """Cluster instances across annotators (linkage to every member, one per annotator).

    Parameters
    ----------
    batch : InstanceBatch
    a, b : array_like, shape (P,), int
        Instance pairs of the same image from different annotators, e.g.
        from `instance_pairs`; pairs below ``threshold`` may be left out.
    similarity : array_like, shape (P,)
        Their agreement (`pair_agreement`).
    threshold : float
        Minimum mean similarity of a joining instance to the cluster's members.
    min_link : float, optional
        Minimum similarity to each member (default ``threshold / 2``;
        ``threshold`` gives complete linkage).
    priority : array_like, shape (n_sources,), optional
        Annotators with higher priority seed clusters first (e.g. their
        reliability); default: by annotator index.

    Returns
    -------
    Clusters
    """
    n = len(batch)
    img, src = batch.image, batch.source
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    sim = np.asarray(similarity, dtype=np.float64)
    floor = threshold / 2 if min_link is None else min(min_link, threshold)
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(sim) & (sim >= floor) & (sim > 0)
    a, b, sim = a[keep], b[keep], sim[keep]

    # Rank of each instance's annotator within its image: the growth step.
    prio = np.zeros(batch.n_sources) if priority is None else -np.asarray(priority, dtype=np.float64)
    o = np.lexsort((src, prio[src], img))
    new_src = np.r_[True, (img[o][1:] != img[o][:-1]) | (src[o][1:] != src[o][:-1])]
    gid = np.cumsum(new_src) - 1
    starts, lengths = run_lengths(img[o])
    step = np.empty(n, dtype=np.int64)
    step[o] = gid - np.repeat(gid[starts], lengths)

    cluster = np.full(n, -1, dtype=np.int64)
    seed = np.flatnonzero(step == 0)
    cluster[seed] = np.arange(seed.size)
    size = np.ones(seed.size, dtype=np.int64)

    # Each pair is decided at the step of its later member.
    late = np.where(step[a] >= step[b], a, b)
    early = np.where(step[a] >= step[b], b, a)
    pstep = step[late]
    valid = step[early] < pstep  # same step = same annotator: never (kept for safety)
    po = np.argsort(pstep[valid], kind="stable")
    late, early, sim, pstep = late[valid][po], early[valid][po], sim[valid][po], pstep[valid][po]
    bounds = np.searchsorted(pstep, np.arange(int(step.max(initial=0)) + 2))

    for t in range(1, int(step.max(initial=0)) + 1):  # loop over annotator ranks, not data
        lo, hi = bounds[t], bounds[t + 1]
        q, cl, s = late[lo:hi], cluster[early[lo:hi]], sim[lo:hi]
        if q.size:
            ko = np.lexsort((q, cl))
            q, cl, s = q[ko], cl[ko], s[ko]
            head = np.flatnonzero(np.r_[True, (q[1:] != q[:-1]) | (cl[1:] != cl[:-1])])
            total = np.add.reduceat(s, head)
            count = np.diff(np.r_[head, q.size])
            q, cl = q[head], cl[head]
            complete = count == size[cl]  # linked to every member
            score = np.where(complete, total / count, 0.0)
            hit = assign_blocks(img[q], cl, q, score, threshold)
            cluster[q[hit]] = cl[hit]
            size += np.bincount(cl[hit], minlength=size.size)
        fresh = np.flatnonzero((step == t) & (cluster < 0))
        cluster[fresh] = size.size + np.arange(fresh.size)
        size = np.r_[size, np.ones(fresh.size, dtype=np.int64)]

    return clusters_from_labels(cluster, img, order_key=step)


def mirror_tolerant(batch: InstanceBatch, a, b, similarity, sigmas, flip_permutation, *,
                    threshold: float = 0.5, min_iou: float = 0.5) -> np.ndarray:
    """Similarity for *matching*: each flip pair scored in its better orientation.

    An annotator who mirrored a person (left and right exchanged throughout)
    or exchanged one limb pair still drew that person; scored as is, the
    pair may fall below the match threshold, the instance would end up
    alone and the swap would go unnoticed. Pairs below ``threshold`` whose
    boxes overlap by ``min_iou`` are re-scored with every flip pair in
    whichever orientation agrees better (the plain and the mirrored
    skeleton are two of those choices), so clustering sees the object and
    the orientation step can flag the member who swapped.

    Parameters
    ----------
    batch : InstanceBatch
    a, b : array_like, shape (P,), int
    similarity : array_like, shape (P,)
        `pair_agreement` of the pairs.
    sigmas : array_like, shape (K,)
    flip_permutation : array_like, shape (K,)
        `Skeleton.flip_permutation`.

    Returns
    -------
    ndarray, shape (P,)
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    sim = np.array(similarity, dtype=np.float64)
    perm = np.asarray(flip_permutation, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        low = np.flatnonzero(~(sim >= threshold))
    low = low[box_iou(batch.bbox[a[low]], batch.bbox[b[low]]) >= min_iou]
    fi = np.flatnonzero(perm > np.arange(perm.size))
    if low.size == 0 or fi.size == 0:
        return sim
    fj = perm[fi]
    _, plain = pair_agreement(batch, a[low], b[low], sigmas, keypoints=True)
    _, mirrored = pair_agreement(batch, a[low], b[low], sigmas, permute_b=perm, keypoints=True)
    # per keypoint: NaN where neither side labeled it (it does not count)
    better = (np.nan_to_num(mirrored[:, fi]) + np.nan_to_num(mirrored[:, fj])
              > np.nan_to_num(plain[:, fi]) + np.nan_to_num(plain[:, fj]))
    best = plain.copy()
    best[:, fi] = np.where(better, mirrored[:, fi], plain[:, fi])
    best[:, fj] = np.where(better, mirrored[:, fj], plain[:, fj])
    counted = np.count_nonzero(~np.isnan(best), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tolerant = np.nansum(best, axis=1) / counted
    sim[low] = np.fmax(sim[low], np.where(counted > 0, tolerant, np.nan))
    return sim
