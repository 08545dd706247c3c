"""Automatic checks: named flags on the instance and keypoint they concern.

Every check is a vectorized pass over the whole batch and returns `Flags`,
parallel arrays a review queue can sort and a Django job can store as rows.

=========================  ===============================================
code                       raised when
=========================  ===============================================
left_right_swap            the most probable orientation of an object's
                           members, given their points (weighted by each
                           annotator's scatter) and each annotator's learned
                           swap rate, has them exchange a flip pair (e.g.
                           left/right knee) or mirror the person, with at
                           least ``swap_margin`` of evidence (log likelihood
                           ratio); the swapped members are flagged, on an
                           even split the one with the higher swap rate
                           (`orientation.orient_members`)
outside_image              a labeled keypoint lies outside the image
outside_box                a labeled keypoint lies more than ``box_margin``
                           box sides outside its own box
visibility_disagreement    the annotator labeled a keypoint most others left
                           unlabeled, or left unlabeled one most others
                           labeled (the instance's own ``v`` says which)
implausible_limb           an edge's length over object scale has a robust
                           z-score beyond ``limb_z`` against the project's
                           own distribution for that edge
duplicate_instance         two instances of one annotator in one image
                           agree above ``duplicate_threshold``
=========================  ===============================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._segments import CHUNK_ROWS, chunks
from .batch import InstanceBatch, instance_pairs
from .clustering import Clusters
from .consensus import LeaveOneOut
from .oks import box_iou, pair_agreement
from .orientation import SWAP_EVIDENCE, Orientation, orient_members
from .skeleton import Skeleton

__all__ = ["Flags", "FLAG_CODES", "check_left_right_swap", "swap_flags", "check_outside", "check_visibility",
           "check_limbs", "check_duplicates", "run_checks"]

_REFERENCE_SAMPLE = 1 << 17  # instances behind the limb-length reference distribution

FLAG_CODES = {
    "left_right_swap": "Left and right keypoints of a pair look exchanged.",
    "outside_image": "Keypoint outside the image.",
    "outside_box": "Keypoint far outside its instance's box.",
    "visibility_disagreement": "Labeled where most others did not, or the reverse.",
    "implausible_limb": "Limb length implausible for this project.",
    "duplicate_instance": "The same object drawn twice by one annotator.",
}


@dataclass(frozen=True, eq=False)
class Flags:
    """Flags as parallel arrays (F rows).

    Attributes
    ----------
    code : ndarray, shape (F,), str
        One of `FLAG_CODES`.
    image : ndarray, shape (F,), int64
    instance : ndarray, shape (F,), int64
        Position of the flagged instance in the batch.
    keypoint : ndarray, shape (F,), int64
        Flagged keypoint, -1 when the flag concerns the whole instance.
    other_keypoint : ndarray, shape (F,), int64
        The swap partner or the limb's other end; -1 otherwise.
    other_instance : ndarray, shape (F,), int64
        The duplicate's counterpart; -1 otherwise.
    score : ndarray, shape (F,), float64
        Strength: similarity gain (swap), pixels (outside image), box sides
        (outside box), fraction of others disagreeing (visibility), robust
        z-score (limb), OKS (duplicate).
    """

    code: np.ndarray
    image: np.ndarray
    instance: np.ndarray
    keypoint: np.ndarray
    other_keypoint: np.ndarray
    other_instance: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return self.code.shape[0]

    @classmethod
    def make(cls, code: str, image, instance, score, keypoint=None, other_keypoint=None,
             other_instance=None) -> "Flags":
        n = np.asarray(instance).shape[0]
        fill = lambda a: np.full(n, -1, np.int64) if a is None else np.asarray(a, np.int64)  # noqa: E731
        return cls(code=np.full(n, code, dtype="<U24"), image=np.asarray(image, np.int64),
                   instance=np.asarray(instance, np.int64), keypoint=fill(keypoint),
                   other_keypoint=fill(other_keypoint), other_instance=fill(other_instance),
                   score=np.asarray(score, np.float64))

    @classmethod
    def concat(cls, parts) -> "Flags":
        parts = list(parts)
        if not parts:
            return cls.make("", [], [], [])
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__))

    def take(self, index) -> "Flags":
        return Flags(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    def where(self, code: str) -> "Flags":
        """The flags of one code."""
        return self.take(self.code == code)

    def counts(self) -> dict[str, int]:
        """Number of flags per code (every code listed)."""
        return {c: int(np.count_nonzero(self.code == c)) for c in FLAG_CODES}

    def remap_instances(self, position) -> "Flags":
        """Map instance positions through ``position`` (e.g. an unsort permutation)."""
        position = np.asarray(position)
        oi = np.where(self.other_instance >= 0, position[np.maximum(self.other_instance, 0)], -1)
        return Flags(self.code, self.image, position[self.instance], self.keypoint,
                     self.other_keypoint, oi, self.score)

    def to_records(self, batch: InstanceBatch | None = None) -> list[dict]:
        """Plain dicts (e.g. for ``bulk_create``); with ``batch``, instance
        positions become the batch's ``ids`` and images its ``image_ids``."""
        inst, other, img = self.instance, self.other_instance, self.image
        if batch is not None:
            inst = batch.ids[inst]
            other = np.where(other >= 0, batch.ids[np.maximum(other, 0)], -1)
            if batch.image_ids is not None:
                img = np.asarray(batch.image_ids)[img]
        cols = [self.code.tolist(), img.tolist(), inst.tolist(), self.keypoint.tolist(),
                self.other_keypoint.tolist(), other.tolist(), self.score.tolist()]
        keys = ("code", "image", "instance", "keypoint", "other_keypoint", "other_instance", "score")
        return [dict(zip(keys, row)) for row in zip(*cols)]


def swap_flags(batch: InstanceBatch, skeleton, orientation: Orientation) -> Flags:
    """`Flags` of an `Orientation`'s swap findings (on the swapper's instances only)."""
    sk = Skeleton.coerce(skeleton)
    inst, pair, score = orientation.flagged
    return Flags.make("left_right_swap", batch.image[inst], inst, score,
                      keypoint=sk.flip_pairs[pair, 0], other_keypoint=sk.flip_pairs[pair, 1])


def check_left_right_swap(batch: InstanceBatch, clusters: Clusters, skeleton, *,
                          margin: float = SWAP_EVIDENCE, prior=None) -> Flags:
    """Annotators whose left and right keypoints are exchanged (see `orient_members`).

    With three annotators the one who swapped is flagged, never the ones who
    did not; with two who disagree, the one whose history shows more swaps
    (``prior``: counts from earlier scoring, and the batch's own objects with
    a majority). A mirrored member is flagged on each of its labeled pairs.

    Returns
    -------
    Flags with ``keypoint = i``, ``other_keypoint = j``, ``score`` = the
    split's evidence (log-likelihood ratio of swapped against as drawn).
    """
    return swap_flags(batch, skeleton, orient_members(batch, clusters, skeleton, margin=margin, prior=prior))


def check_outside(batch: InstanceBatch, image_size=None, *, box_margin: float = 0.25) -> Flags:
    """Labeled keypoints outside the image, or far outside their own box.

    Parameters
    ----------
    batch : InstanceBatch
    image_size : array_like, shape (n_images, 2), optional
        Width and height of each image; without it only boxes are checked.
    box_margin : float
        Allowed distance outside the box, in units of its longer side.

    Returns
    -------
    Flags (``outside_image``: score in pixels; ``outside_box``: in box sides)
    """
    size_all = None if image_size is None else np.asarray(image_size, dtype=np.float64)
    img_hits, box_hits = [], []
    for sl in chunks(len(batch), CHUNK_ROWS * 4):
        x, y, lab = batch.x[sl], batch.y[sl], batch.labeled[sl]
        bb = batch.bbox[sl]
        # cheap comparisons find the few candidates; distances only for those
        if size_all is not None:
            size = size_all[batch.image[sl]]
            w, h = size[:, :1], size[:, 1:]
            n, kk = np.nonzero(lab & ((x < 0) | (y < 0) | (x > w) | (y > h)))
            px, py = x[n, kk], y[n, kk]
            wn, hn = size[n, 0], size[n, 1]
            out = np.hypot(np.maximum(0, -px) + np.maximum(0, px - wn), np.maximum(0, -py) + np.maximum(0, py - hn))
            img_hits.append((n + sl.start, kk, out))
        side = np.maximum(bb[:, 2], bb[:, 3])
        pad = (box_margin * side / np.sqrt(2))[:, None]  # a point farther than the margin is this far on one axis
        x0, y0 = bb[:, :1], bb[:, 1:2]
        n, kk = np.nonzero(lab & ((x < x0 - pad) | (y < y0 - pad) | (x > x0 + bb[:, 2:3] + pad)
                                  | (y > y0 + bb[:, 3:4] + pad)))
        px, py, bn = x[n, kk], y[n, kk], bb[n]
        dist = np.hypot(np.maximum(0, bn[:, 0] - px) + np.maximum(0, px - bn[:, 0] - bn[:, 2]),
                        np.maximum(0, bn[:, 1] - py) + np.maximum(0, py - bn[:, 1] - bn[:, 3]))
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = dist / side[n]
        keep = rel > box_margin
        box_hits.append((n[keep] + sl.start, kk[keep], rel[keep]))
    parts = []
    for code, hits in (("outside_image", img_hits), ("outside_box", box_hits)):
        if hits:
            n = np.concatenate([h[0] for h in hits])
            parts.append(Flags.make(code, batch.image[n], n, np.concatenate([h[2] for h in hits]),
                                    keypoint=np.concatenate([h[1] for h in hits])))
    return Flags.concat(parts)


def check_visibility(batch: InstanceBatch, loo: LeaveOneOut) -> Flags:
    """Keypoints labeled against most others' judgement, or left out against it.

    Returns
    -------
    Flags with ``score`` = fraction of the other annotators who disagree
    (> 0.5). Whether it is an extra or a missing label is the instance's own
    ``v`` (> 0: labeled where others did not).
    """
    found = []
    for sl in chunks(len(loo)):
        inst = loo.instance[sl]
        frac = loo.others_labeled[sl]
        disagree = np.where(batch.labeled[inst], 1.0 - frac, frac)
        r, kk = np.nonzero(disagree > 0.5)
        found.append((inst[r], kk, disagree[r, kk]))
    if not found:
        return Flags.concat([])
    inst = np.concatenate([f[0] for f in found])
    return Flags.make("visibility_disagreement", batch.image[inst], inst,
                      np.concatenate([f[2] for f in found]), keypoint=np.concatenate([f[1] for f in found]))


def _row_median(values: np.ndarray) -> np.ndarray:
    """Median of each row ignoring NaN, by one multi-kth partition.

    Parameters
    ----------
    values : ndarray, shape (E, N)

    Returns
    -------
    ndarray, shape (E,); NaN for empty rows
    """
    if values.shape[1] == 0:
        return np.full(values.shape[0], np.nan)
    cnt = np.count_nonzero(~np.isnan(values), axis=1)
    part = np.where(np.isnan(values), np.inf, values)  # NaN sorts last
    lo, hi = np.maximum((cnt - 1) // 2, 0), np.minimum(cnt // 2, values.shape[1] - 1)
    part.partition(np.unique(np.concatenate([lo, hi])), axis=1)  # in place: no copy
    rows = np.arange(values.shape[0])
    return np.where(cnt > 0, 0.5 * (part[rows, lo] + part[rows, hi]), np.nan)


def check_limbs(batch: InstanceBatch, skeleton, *, limb_z: float = 3.5, min_count: int = 30) -> Flags:
    """Edges whose length is implausible against the project's own distribution.

    Each edge's length is divided by the instance's scale ``sqrt(area)``;
    per edge, over all instances of the batch, a robust z-score
    ``(L - median) / (1.4826 MAD)`` is computed (a normal distribution's
    standard deviation from the MAD, so outliers do not inflate it).

    Parameters
    ----------
    batch : InstanceBatch
    skeleton : Skeleton
    limb_z : float
        |z| above which an edge is flagged (3.5: Iglewicz and Hoaglin).
    min_count : int
        Edges measured on fewer instances are not judged.

    Returns
    -------
    Flags with ``keypoint``/``other_keypoint`` the edge's ends, ``score`` = z.
    """
    sk = Skeleton.coerce(skeleton)
    if sk.edges.shape[0] == 0 or len(batch) == 0:
        return Flags.concat([])
    p, q = sk.edges[:, 0], sk.edges[:, 1]
    n_inst = len(batch)

    def lengths(sl):  # (E, rows) edge lengths over scale, NaN where an end is unlabeled
        x, y, lab = batch.x[sl], batch.y[sl], batch.labeled[sl]
        dx = np.take(x, p, axis=1) - np.take(x, q, axis=1)
        dy = np.take(y, p, axis=1) - np.take(y, q, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            le = np.hypot(dx, dy) / np.sqrt(batch.area[sl])[:, None]
        ok = np.take(lab, p, axis=1) & np.take(lab, q, axis=1) & np.isfinite(le)
        return np.where(ok, le, np.nan).T

    # The reference distribution: every instance, or an even sample of
    # _REFERENCE_SAMPLE of them on large batches (median and MAD from 10^5
    # values are within a percent; the verdict is 3.5 MADs wide).
    stride = max(1, -(-n_inst // _REFERENCE_SAMPLE))
    ref = lengths(np.s_[::stride]).copy()
    judged = np.count_nonzero(~np.isnan(ref), axis=1) >= min_count
    med = _row_median(ref)
    mad = _row_median(np.abs(ref - med[:, None]))
    judged &= mad > 0
    scale = 1.4826 * mad
    found = []
    for sl in chunks(n_inst, CHUNK_ROWS * 2):
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (lengths(sl) - med[:, None]) / scale[:, None]
        e, n = np.nonzero((np.abs(z) > limb_z) & judged[:, None])
        found.append((e, n + sl.start, z[e, n]))
    e = np.concatenate([f[0] for f in found])
    n = np.concatenate([f[1] for f in found])
    return Flags.make("implausible_limb", batch.image[n], n, np.concatenate([f[2] for f in found]),
                      keypoint=p[e], other_keypoint=q[e])


def check_duplicates(batch: InstanceBatch, sigmas, *, threshold: float = 0.7, pairs=None) -> Flags:
    """Pairs of instances of one annotator in one image that describe one object.

    Parameters
    ----------
    batch : InstanceBatch
    sigmas : array_like, shape (K,)
    threshold : float
        `agreement_oks` at or above which two instances are one object.
    pairs : tuple (a, b) of ndarray, optional
        Same-annotator instance pairs (``instance_pairs(..., kind="same")``),
        if already enumerated.

    Returns
    -------
    Flags on the later instance, ``other_instance`` the earlier one,
    ``score`` their `agreement_oks`.
    """
    a, b = instance_pairs(batch.image, batch.source, kind="same") if pairs is None else pairs
    # two drawings of one object overlap: score only pairs whose boxes do
    near = box_iou(batch.bbox[a], batch.bbox[b]) > 0.2
    a, b = a[near], b[near]
    sim = pair_agreement(batch, a, b, sigmas)
    hit = sim >= threshold
    return Flags.make("duplicate_instance", batch.image[b[hit]], b[hit], sim[hit], other_instance=a[hit])


def run_checks(batch: InstanceBatch, skeleton, clusters: Clusters | None = None,
               loo: LeaveOneOut | None = None, *, image_size=None, swap_margin: float = SWAP_EVIDENCE,
               box_margin: float = 0.25, limb_z: float = 3.5, duplicate_threshold: float = 0.7,
               same_pairs=None, orientation: Orientation | None = None) -> Flags:
    """All checks. The swap check needs ``clusters`` (or an already computed
    ``orientation``), the visibility check ``loo``.

    Returns
    -------
    Flags
    """
    sk = Skeleton.coerce(skeleton)
    parts = [check_outside(batch, image_size, box_margin=box_margin),
             check_limbs(batch, sk, limb_z=limb_z),
             check_duplicates(batch, sk.sigmas, threshold=duplicate_threshold, pairs=same_pairs)]
    if orientation is not None:
        parts.append(swap_flags(batch, sk, orientation))
    elif clusters is not None:
        parts.append(check_left_right_swap(batch, clusters, sk, margin=swap_margin))
    if loo is not None:
        parts.append(check_visibility(batch, loo))
    return Flags.concat(parts)
