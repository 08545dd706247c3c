"""Simulated redundant annotation projects with known truth.

Used by the tests and the benchmark to show what the engine claims: that the
consensus is closer to the truth than any single annotator, that swapped
left/right joints are caught, that sigmas are recovered. Everything is
generated vectorized, so a 100,000-image project takes a couple of seconds.

Noise model (matches COCO's definition of sigma): annotator ``a``'s error on
keypoint ``k`` of an object of scale ``s = sqrt(area)`` is isotropic Gaussian
with per-axis standard deviation ``noise[a] * sigma_k * s / sqrt(2)``, so
that ``E[d**2] / s**2 = (noise[a] * sigma_k)**2`` — an annotator with
``noise = 1`` scatters exactly as much as COCO's annotators did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .batch import InstanceBatch
from .skeleton import COCO_PERSON, Skeleton

__all__ = ["SimulatedProject", "simulate_project", "keypoint_noise", "COCO_TEMPLATE", "MIXED_WORKFORCE",
           "SWAP_SCENARIOS", "JUDGED_SWAP_PAIRS"]

#: A frontal standing person, 17 COCO keypoints, x right / y down, units of
#: body height, origin at the body center. The person's left is image right.
COCO_TEMPLATE = np.array([
    [0.0, -0.42], [0.025, -0.445], [-0.025, -0.445], [0.055, -0.43], [-0.055, -0.43],
    [0.11, -0.32], [-0.11, -0.32], [0.15, -0.16], [-0.15, -0.16], [0.16, -0.02], [-0.16, -0.02],
    [0.08, 0.02], [-0.08, 0.02], [0.08, 0.24], [-0.08, 0.24], [0.08, 0.46], [-0.08, 0.46],
])


#: Flip pairs a single-pair swap may hit in the swap scenarios: not the eyes and the hips, which
#: in the simulator's frontal poses sit only 2-3 sigmas apart (a mirror still exchanges them).
JUDGED_SWAP_PAIRS = (1, 2, 3, 4, 6, 7)
_HIPS_AND_KNEES = (11, 12, 13, 14)
#: Careful, careful, sloppy (twice the noise), a 15% swapper (30% of their errors mirror the
#: whole person), one who clicks hips and knees 1.2 sigma too low.
MIXED_WORKFORCE = dict(n_annotators=5, noise=(1.0, 1.0, 2.0, 1.0, 1.0), swap_rate=(0, 0, 0, 0.15, 0),
                       mirror_fraction=0.3,
                       bias=tuple(tuple((0.0, 1.2) if (s == 4 and k in _HIPS_AND_KNEES) else (0.0, 0.0)
                                        for k in range(17)) for s in range(5)))
#: The swap check's scenarios (`simulate_project` keyword arguments; the swapper is the one
#: annotator with a swap rate). Two-member clusters: everyone skips 10% of people, so a quarter of the people are drawn
#: by two. Next to a sloppy annotator: the mirrored instances that once ended alone in a cluster.
SWAP_SCENARIOS = {
    "two-member clusters": dict(n_annotators=3, swap_rate=(0, 0.15, 0), mirror_fraction=0.3,
                                swap_pairs=JUDGED_SWAP_PAIRS, miss_instance_rate=0.1),
    "next to a sloppy annotator": dict(n_annotators=3, noise=(1.0, 2.5, 1.0), swap_rate=(0, 0, 0.15),
                                       mirror_fraction=1.0),
    "mixed workforce": dict(MIXED_WORKFORCE, swap_pairs=JUDGED_SWAP_PAIRS),
}


@dataclass(frozen=True, eq=False)
class SimulatedProject:
    """A simulated project and its ground truth.

    Attributes
    ----------
    batch : InstanceBatch
        Annotators' instances (N), sorted by (image, source).
    truth : InstanceBatch
        The true objects (T), ``source`` 0.
    truth_of : ndarray, shape (N,), int64
        True object each instance depicts; -1 for invented instances.
    swapped : ndarray, shape (N, F), bool
        Flip pair ``f`` of the skeleton, both keypoints labeled, was
        exchanged in instance ``n``.
    exchanged : ndarray, shape (N, F), bool
        Every exchanged pair, including mirrored pairs with a single
        labeled keypoint (that keypoint is on the wrong side).
    outlier : ndarray, shape (N, K), bool
        Keypoint placed with a gross error.
    image_size : ndarray, shape (I, 2)
        Width and height of each image.
    noise : ndarray, shape (S,)
        Per-annotator noise multiplier.
    skeleton : Skeleton
    """

    batch: InstanceBatch
    truth: InstanceBatch
    truth_of: np.ndarray
    swapped: np.ndarray
    exchanged: np.ndarray
    outlier: np.ndarray
    image_size: np.ndarray
    noise: np.ndarray
    skeleton: Skeleton

    def true_objects(self, consensus) -> tuple[np.ndarray, np.ndarray]:
        """Accepted consensus objects and the true person each depicts (the one most members drew).

        Returns
        -------
        objects, person : ndarray, shape (Q,), int64
            Indices into the consensus and into ``truth``; objects made of
            invented instances only are left out.
        """
        acc = np.flatnonzero(consensus.accepted)
        members = consensus.clusters.members[acc]  # (Q, M)
        person = np.where(members >= 0, self.truth_of[np.maximum(members, 0)], -1)
        votes = ((person[:, :, None] == person[:, None, :]) & (person[:, None, :] >= 0)).sum(2)
        best = np.take_along_axis(person, np.argmax(np.where(person >= 0, votes, -1), axis=1)[:, None], 1)[:, 0]
        keep = best >= 0
        return acc[keep], best[keep]

    def consensus_error(self, consensus) -> float:
        """Mean distance of consensus keypoints to the truth in units of ``sigma_k * s``
        (keypoints labeled in both), over the accepted objects that depict a true person."""
        obj, person = self.true_objects(consensus)
        t = self.truth
        d = np.hypot(*(consensus.xy[obj] - t.xy[person]).transpose(2, 0, 1))
        d = d / (np.sqrt(t.area[person])[:, None] * self.skeleton.sigmas)
        return float(d[(consensus.v[obj] > 0) & (t.v[person] > 0)].mean())


    def swap_scores(self, flags) -> tuple[float, float, int]:
        """Precision and recall of swap flags per (instance, flip pair), and the true positives.

        Judged over instances someone else drew too (alone in its object,
        an instance has nobody to be compared with); a mirrored pair with a
        single labeled keypoint is neither right nor wrong.

        Parameters
        ----------
        flags : Flags
            Of the pipeline run on ``batch`` (its ``left_right_swap`` rows).
        """
        f = flags.where("left_right_swap")
        pair_of = {(i, j): n for n, (i, j) in enumerate(self.skeleton.flip_pairs.tolist())}
        flagged = np.zeros_like(self.swapped)
        flagged[f.instance, [pair_of[p] for p in zip(f.keypoint.tolist(), f.other_keypoint.tolist())]] = True
        drawn = np.bincount(self.truth_of[self.truth_of >= 0], minlength=len(self.truth))
        judged = ((self.truth_of >= 0) & (drawn[np.maximum(self.truth_of, 0)] >= 2))[:, None]
        judged = judged & ~(self.exchanged & ~self.swapped)
        tp = np.count_nonzero(flagged & self.swapped & judged)
        fp = np.count_nonzero(flagged & ~self.swapped & judged)
        fn = np.count_nonzero(~flagged & self.swapped & judged)
        return float(tp / max(tp + fp, 1)), float(tp / max(tp + fn, 1)), int(tp)


def keypoint_noise(rng: np.random.Generator, area, sigmas, noise) -> np.ndarray:
    """Annotator click errors under the module's noise model.

    Parameters
    ----------
    area : float or ndarray, shape (N,)
        Object areas (scale s = sqrt(area)).
    sigmas : ndarray, shape (K,)
    noise : float or ndarray, shape (N,)
        Error multiplier of whoever labels each object.

    Returns
    -------
    ndarray, shape (K, 2) or (N, K, 2)
        Offsets (dx, dy), per axis N(0, noise * sigma_k * s / sqrt(2)).
    """
    area = np.asarray(area, dtype=np.float64)
    noise = np.broadcast_to(np.asarray(noise, dtype=np.float64), area.shape)
    tau = noise[..., None] * np.asarray(sigmas, dtype=np.float64) * np.sqrt(area)[..., None] / np.sqrt(2)
    return rng.normal(size=tau.shape + (2,)) * tau[..., None]


def _template(skeleton: Skeleton, rng) -> np.ndarray:
    if skeleton.num_keypoints == 17 and skeleton.flip_pairs.shape[0] == 8:
        return COCO_TEMPLATE
    k = skeleton.num_keypoints  # any other skeleton: random mirrored layout
    t = rng.uniform(-0.4, 0.4, size=(k, 2))
    t[:, 0] *= 0.5
    t[skeleton.flip_pairs[:, 1]] = t[skeleton.flip_pairs[:, 0]] * [-1, 1]
    return t


def simulate_project(n_images: int, *, n_annotators: int = 3, people=(1, 4), skeleton=COCO_PERSON,
                     noise=1.0, swap_rate=0.0, mirror_fraction: float = 0.0,
                     swap_pairs=None, outlier_rate: float = 0.0,
                     miss_keypoint_rate: float = 0.02, visibility_flip_rate: float = 0.05,
                     miss_instance_rate=0.0, extra_instance_rate: float = 0.0, bias=None,
                     image_size=(640, 480), height=(120, 400), seed: int = 0) -> SimulatedProject:
    """Generate a project: true people, then each annotator's noisy copies.

    Parameters
    ----------
    n_images : int
    n_annotators : int
        Annotators per image (all annotate every image).
    people : (int, int)
        Inclusive range of people per image.
    skeleton : Skeleton
    noise : float or array_like, shape (n_annotators,)
        Error multiplier per annotator (see module docstring).
    swap_rate : float or array_like, shape (n_annotators,)
        Probability that an annotator makes a left/right error on an
        instance (one rate per annotator for a workforce with a swapper).
    mirror_fraction : float
        Share of those errors that mirror the whole skeleton (every flip
        pair exchanged: a person seen from behind taken as facing the
        camera); the others exchange one flip pair, chosen among
        ``swap_pairs`` pairs with both sides labeled.
    swap_pairs : array_like of int, optional
        Indices into ``skeleton.flip_pairs`` eligible for single-pair swaps
        (default: all).
    outlier_rate : float
        Probability that a labeled keypoint is placed with a gross error
        (uniform within +-25% of body height).
    miss_keypoint_rate : float
        Probability that an annotator leaves a labeled keypoint unlabeled.
    visibility_flip_rate : float
        Probability that an annotator calls a visible keypoint occluded or
        vice versa.
    miss_instance_rate : float or array_like, shape (n_annotators,)
        Probability that an annotator skips a person.
    extra_instance_rate : float
        Expected invented instances per annotator and image.
    bias : array_like, shape (n_annotators, K, 2), optional
        Systematic offset (dx, dy) of each annotator's keypoints, in units
        of ``sigma_k * s`` (a biased annotator who clicks the hips too low).
    image_size : (int, int)
    height : (float, float)
        Range of body heights in pixels.
    seed : int

    Returns
    -------
    SimulatedProject
    """
    skeleton = Skeleton.coerce(skeleton)
    rng = np.random.default_rng(seed)
    k = skeleton.num_keypoints
    s_ann = n_annotators
    noise = np.broadcast_to(np.asarray(noise, dtype=np.float64), (s_ann,)).copy()
    swap_rate = np.broadcast_to(np.asarray(swap_rate, dtype=np.float64), (s_ann,))
    miss_rate = np.broadcast_to(np.asarray(miss_instance_rate, dtype=np.float64), (s_ann,))
    width, img_h = image_size
    template = _template(skeleton, rng)

    # --- truth
    n_people = rng.integers(people[0], people[1] + 1, size=n_images)
    t_img = np.repeat(np.arange(n_images), n_people)
    t = t_img.size
    h = rng.uniform(*height, size=t)
    pose = template[None] + rng.normal(0, 0.02, size=(t, k, 2))
    limbs = np.abs(template[:, 0]) > 0.12  # elbows and wrists move more
    pose[:, limbs] += rng.normal(0, 0.05, size=(t, int(limbs.sum()), 2))
    ang = rng.normal(0, 0.15, size=t)
    rot = np.stack([np.cos(ang), -np.sin(ang), np.sin(ang), np.cos(ang)], -1).reshape(t, 2, 2)
    pose = np.einsum("tij,tkj->tki", rot, pose)
    facing_away = rng.random(t) < 0.3
    pose[facing_away, :, 0] *= -1  # seen from behind: the left side is on the image left
    center = np.stack([rng.uniform(0.1 * width, 0.9 * width, t), rng.uniform(0.2 * img_h, 0.8 * img_h, t)], -1)
    txy = center[:, None] + pose * h[:, None, None]
    lo, hi = txy.min(1), txy.max(1)
    pad = 0.05 * h[:, None]
    tbox = np.concatenate([lo - pad, hi - lo + 2 * pad], axis=1)
    tarea = tbox[:, 2] * tbox[:, 3]
    tv = rng.choice(np.array([2, 1, 0], np.int8), p=[0.75, 0.17, 0.08], size=(t, k))
    inside = (txy[..., 0] >= 0) & (txy[..., 0] <= width) & (txy[..., 1] >= 0) & (txy[..., 1] <= img_h)
    tv = np.where(inside, tv, 0).astype(np.int8)
    truth = InstanceBatch(xy=np.where(tv[..., None] > 0, txy, 0.0), v=tv, bbox=tbox, area=tarea,
                          image=t_img, source=np.zeros(t, np.int64), n_images=n_images, n_sources=1)

    # --- annotator copies
    rows = np.repeat(np.arange(t), s_ann)
    src = np.tile(np.arange(s_ann), t)
    keep = rng.random(rows.size) >= miss_rate[src]
    rows, src = rows[keep], src[keep]
    n = rows.size
    s = np.sqrt(tarea[rows])
    xy = txy[rows] + keypoint_noise(rng, tarea[rows], skeleton.sigmas, noise[src])
    if bias is not None:  # no random draw: the other annotators' labels stay as without it
        shift = np.asarray(bias, dtype=np.float64).reshape(s_ann, k, 2)[src]
        xy += shift * (skeleton.sigmas[None, :, None] * s[:, None, None])
    outlier = (rng.random((n, k)) < outlier_rate) & (tv[rows] > 0)
    gross = rng.uniform(-0.25, 0.25, size=(n, k, 2)) * h[rows][:, None, None]
    xy = np.where(outlier[..., None], txy[rows] + gross, xy)
    v = tv[rows].copy()
    flip_vis = (rng.random((n, k)) < visibility_flip_rate) & (v > 0)
    v[flip_vis] = 3 - v[flip_vis]
    v[rng.random((n, k)) < miss_keypoint_rate] = 0

    f = skeleton.flip_pairs.shape[0]
    swapped = np.zeros((n, f), dtype=bool)
    exchanged = np.zeros((n, f), dtype=bool)
    if f and np.any(swap_rate > 0):
        fi, fj = skeleton.flip_pairs[:, 0], skeleton.flip_pairs[:, 1]
        both = (v[:, fi] > 0) & (v[:, fj] > 0)  # (n, F)
        eligible = np.zeros(f, dtype=bool)
        eligible[np.arange(f) if swap_pairs is None else np.asarray(swap_pairs)] = True
        event = rng.random(n) < swap_rate[src]
        mirror = event & (rng.random(n) < mirror_fraction)
        single = event & ~mirror & (both & eligible).any(1)
        choice = np.argmax(rng.random((n, f)) * (both & eligible), axis=1)  # a random eligible pair
        swapped[single, choice[single]] = True
        swapped[mirror] = True
        exchanged[:] = swapped  # mirrors exchange half-labeled pairs too
        ex = swapped.copy()
        swapped &= both  # a full pair on the wrong sides
        r, p = np.nonzero(ex)
        i, j = fi[p], fj[p]
        for arr in (xy, v, outlier):
            arr[r, i], arr[r, j] = arr[r, j].copy(), arr[r, i].copy()
    jitter = rng.normal(0, 0.02, size=(n, 4)) * np.repeat(tbox[rows][:, 2:], 2, axis=1)
    box = tbox[rows] + jitter
    box[:, 2:] = np.maximum(box[:, 2:], 1.0)
    img = t_img[rows]
    truth_of = rows

    # --- invented instances
    n_extra = rng.poisson(extra_instance_rate, size=(n_images, s_ann))
    if n_extra.sum():
        e_img = np.repeat(np.repeat(np.arange(n_images), s_ann), n_extra.ravel())
        e_src = np.repeat(np.tile(np.arange(s_ann), n_images), n_extra.ravel())
        ne = e_img.size
        eh = rng.uniform(*height, size=ne)
        ec = np.stack([rng.uniform(0, width, ne), rng.uniform(0, img_h, ne)], -1)
        exy = ec[:, None] + (template[None] + rng.normal(0, 0.05, (ne, k, 2))) * eh[:, None, None]
        ev = rng.choice(np.array([2, 1, 0], np.int8), p=[0.6, 0.2, 0.2], size=(ne, k))
        elo, ehi = exy.min(1), exy.max(1)
        ebox = np.concatenate([elo, ehi - elo], axis=1)
        xy = np.concatenate([xy, exy])
        v = np.concatenate([v, ev])
        box = np.concatenate([box, ebox])
        img = np.concatenate([img, e_img])
        src = np.concatenate([src, e_src])
        truth_of = np.concatenate([truth_of, np.full(ne, -1)])
        swapped = np.concatenate([swapped, np.zeros((ne, f), bool)])
        exchanged = np.concatenate([exchanged, np.zeros((ne, f), bool)])
        outlier = np.concatenate([outlier, np.zeros((ne, k), bool)])

    xy = np.where(v[..., None] > 0, xy, 0.0)
    # Annotators draw people in no particular order.
    order = np.lexsort((rng.random(img.size), src, img))
    batch = InstanceBatch(xy=xy[order], v=v[order], bbox=box[order], area=box[order, 2] * box[order, 3],
                          image=img[order], source=src[order], n_images=n_images, n_sources=s_ann)
    return SimulatedProject(batch=batch, truth=truth, truth_of=truth_of[order], swapped=swapped[order],
                            exchanged=exchanged[order],
                            outlier=outlier[order],
                            image_size=np.tile(np.asarray(image_size, np.float64), (n_images, 1)),
                            noise=noise, skeleton=skeleton)
