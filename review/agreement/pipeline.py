"""Everything for a batch of images in one call: the entry point for jobs.

``run_pipeline(batch, skeleton)`` scores every cross-annotator pair, clusters
instances into objects (flip-aware: a mirrored person still joins its
object), decides each object's left/right orientation and brings swapped
members back into it, learns each annotator's per-keypoint noise, builds the
consensus, measures image agreement and annotator reliability, lists who
missed which object, runs the automatic checks and learns sigmas — each
stage a few array operations over the whole batch. Inputs and outputs are
plain NumPy arrays and small dataclasses; instance positions in the result
refer to the batch as passed in (``batch.ids[pos]`` gives annotation ids).

``method="median", orient=False`` is the engine as it was before orientation
and learned noise (geometric median over the clusters, members averaged as
drawn): kept callable so that the benchmark and tests compare against it.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from .batch import InstanceBatch, instance_pairs
from .checks import Flags, check_visibility, run_checks, swap_flags
from .clustering import Clusters, cluster_instances, mirror_tolerant
from .consensus import Consensus, LeaveOneOut, consensus_from_clusters, image_replicas
from .image_agreement import ImageAgreement, image_agreement
from .noise import NoiseModel, learn_noise
from .oks import pair_agreement
from .orientation import SWAP_EVIDENCE, Orientation, exchange_pairs, orient_members
from .reliability import Reliability, annotator_reliability, missed_objects
from .sigmas import SigmaEstimate, estimate_sigmas
from .skeleton import Skeleton

__all__ = ["PipelineResult", "AnnotatorHistory", "run_pipeline", "CONSENSUS_METHODS"]

CONSENSUS_METHODS = ("learned", "median", "mean", "weighted_median", "weighted_mean")


@dataclass(frozen=True, eq=False)
class AnnotatorHistory:
    """What earlier scoring learned about the batch's annotators (indexed by source).

    Attributes
    ----------
    checked, swapped : ndarray, shape (S,)
        Instances in objects with a left/right majority, and of those the
        ones on the minority side (`Orientation`): the swap history that
        settles an object two annotators disagree on.
    noise : NoiseModel, optional
        Per-keypoint noise statistics, pooled with the batch's own.
    """

    checked: np.ndarray
    swapped: np.ndarray
    noise: NoiseModel | None = None


@dataclass(frozen=True, eq=False)
class PipelineResult:
    """Everything the engine knows about a batch.

    Attributes
    ----------
    consensus : Consensus
        One row per object (cluster); ``consensus.clusters.of`` (N,) maps
        instances to objects, ``consensus.accepted`` says which passed the quorum.
    images : ImageAgreement
        Per-image agreement (I rows).
    reliability : Reliability
        Per-annotator figures (S rows).
    flags : Flags
        Automatic check results.
    sigmas : SigmaEstimate
        Sigmas learned from this batch (K).
    instance_oks : ndarray, shape (N,)
        Each instance's `agreement_oks` against the consensus of the other
        annotators of its object; NaN where it has no other annotator.
    leave_one_out : LeaveOneOut
    n_pairs : int
        Cross-annotator instance pairs scored.
    orientation : Orientation
        Who swapped (``exchanged`` rows in the caller's order), undecided
        objects, the swap history.
    noise : NoiseModel or None
        The learned per-annotator, per-keypoint noise (``method="learned"``).
    missed : tuple (cluster (Q,), source (Q,))
        Accepted objects and the assigned annotators who did not draw them.
    offsets_subtracted : bool
        The consensus removed each annotator's learned systematic offset.
    timings : dict of str to float
        Seconds per stage, and ``total`` (wall): image agreement, checks
        and sigmas run on a second thread beside the others, so the stages
        add up to more than the total.
    """

    consensus: Consensus
    images: ImageAgreement
    reliability: Reliability
    flags: Flags
    sigmas: SigmaEstimate
    instance_oks: np.ndarray
    leave_one_out: LeaveOneOut
    n_pairs: int
    orientation: Orientation | None = None
    noise: NoiseModel | None = None
    missed: tuple = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    offsets_subtracted: bool = False
    timings: dict = field(default_factory=dict)

    def history(self) -> AnnotatorHistory:
        """This run's findings as history for the next batch of the same annotators."""
        o = self.orientation
        return AnnotatorHistory(checked=o.checked, swapped=o.swapped, noise=self.noise)


class _Timer:
    def __init__(self):
        self.times: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str):
        t0 = time.perf_counter()
        yield
        self.times[stage] = self.times.get(stage, 0.0) + time.perf_counter() - t0

    def run(self, stage: str, fn, *args, **kwargs):
        with self(stage):
            return fn(*args, **kwargs)


def run_pipeline(batch: InstanceBatch, skeleton, *, threshold: float = 0.5, quorum=None,
                 assignments=None, gold: InstanceBatch | None = None, image_size=None,
                 method: str = "learned", orient: bool = True, history: AnnotatorHistory | None = None,
                 subtract_offsets: bool = False, pck_threshold: float = 0.1, swap_margin: float = SWAP_EVIDENCE,
                 box_margin: float = 0.25, limb_z: float = 3.5, duplicate_threshold: float = 0.7,
                 dtype=np.float64) -> PipelineResult:
    """Agreement, matching, orientation, noise, consensus, reliability, checks and sigmas for a batch.

    Parameters
    ----------
    batch : InstanceBatch
        Instances of all annotators for the images to score.
    skeleton : Skeleton
        Or anything with ``sigmas``/``flip_pairs``/``edges`` (e.g. ``SkeletonSpec``).
    threshold : float
        Minimum `agreement_oks` (the better of plain and mirrored) for two
        instances to be the same object.
    quorum : int or array_like of shape (n_images,), optional
        Annotators who must draw an object for it to be accepted (default: a
        strict majority of those assigned to the image).
    assignments : tuple (image (A,), source (A,)), optional
        Which annotators were assigned which images. Default: those with an
        instance in the image; pass the real assignment when an annotator
        may have drawn nothing.
    gold : InstanceBatch, optional
        Gold instances (same image index space), for `Reliability.gold_oks`.
    image_size : array_like, shape (n_images, 2), optional
        Width, height, for the outside-image check.
    method : {"learned", "median", "mean", "weighted_median", "weighted_mean"}
        Consensus position. "learned" (default): per annotator and keypoint
        inverse-variance weights from the noise learned on this batch and
        ``history`` (`noise.learn_noise`), gross clicks rejected, the
        geometric median where an annotator has too little history.
        "median" is the geometric median; the weighted ones use
        `Reliability.weight` (learned from an unweighted first pass).
    orient : bool
        Bring swapped and mirrored members into their object's orientation
        before the consensus (default). False averages members as drawn,
        the engine's behavior before orientation (kept for comparison).
    history : AnnotatorHistory, optional
        Earlier scoring's swap counts and noise statistics of these
        annotators (`PipelineResult.history`), indexed like the batch's sources.
    subtract_offsets : bool
        With "learned": remove each annotator's learned systematic offset
        from their points (otherwise the offset only lowers their weight).
    pck_threshold, swap_margin, box_margin, limb_z, duplicate_threshold : float
        See `annotator_reliability` and `run_checks`.
    dtype : {float64, float32}
        Precision of the all-pairs similarity pass.

    Returns
    -------
    PipelineResult
    """
    if method not in CONSENSUS_METHODS:
        raise ValueError(f"method must be one of {CONSENSUS_METHODS}")
    sk = Skeleton.coerce(skeleton)
    if sk.num_keypoints != batch.num_keypoints:
        raise ValueError(f"skeleton has {sk.num_keypoints} keypoints, batch {batch.num_keypoints}")
    sig = sk.sigmas
    timer = _Timer()
    started = time.perf_counter()

    with timer("sort"):
        if batch.is_sorted:
            sb, order = batch, None
        else:
            sb, order = batch.sort()
        if assignments is not None:
            a_img = np.asarray(assignments[0], np.int64)
            a_src = np.asarray(assignments[1], np.int64)
            key = np.unique(np.r_[a_img * max(sb.n_sources, 1) + a_src,
                                  sb.image * max(sb.n_sources, 1) + sb.source])
            a_img, a_src = key // max(sb.n_sources, 1), key % max(sb.n_sources, 1)
            replicas = np.bincount(a_img, minlength=sb.n_images).astype(np.int64)
            assignments = (a_img, a_src)
        else:
            replicas = image_replicas(sb)
    with timer("pairs"):
        a, b = instance_pairs(sb.image, kind="all")
        cross = sb.source[a] != sb.source[b]
        same_pairs = (a[~cross], b[~cross])
        a, b = a[cross], b[cross]
    # Stages that need only what is known so far run on a second thread while the main one goes
    # on (NumPy releases the GIL inside its loops): the checks of single instances beside matching,
    # image agreement beside orientation and consensus, the rest of the checks and sigmas beside
    # reliability.
    with ThreadPoolExecutor(max_workers=1) as side:
        alone = side.submit(timer.run, "checks", run_checks, sb, sk, image_size=image_size, box_margin=box_margin,
                            limb_z=limb_z, duplicate_threshold=duplicate_threshold, same_pairs=same_pairs)
        with timer("agreement"):
            sim = pair_agreement(sb, a, b, sig, dtype=dtype)
        with timer("matching"):
            match_sim = mirror_tolerant(sb, a, b, sim, sig, sk.flip_permutation, threshold=threshold)
            clusters = cluster_instances(sb, a, b, match_sim, threshold)
        cl, pa, pb = clusters.member_pairs()
        images = side.submit(timer.run, "image_agreement", image_agreement, sb, clusters, sig, replicas=replicas,
                             member_pairs=(cl, pa, pb))
        noise = None
        if orient or method == "learned":
            with timer("noise"):
                # learned as drawn: a swapped joint lies beyond the gross-click limit and is left out
                noise = learn_noise(sb, clusters, sig, prior=None if history is None else history.noise)
        with timer("orientation"):
            # each member's points judged against the scatter its annotator is known for (a sloppy
            # annotator's close pair is noise, not a swap), and the odds of each of them swapping
            prior = None if history is None else (history.checked, history.swapped)
            orientation = orient_members(sb, clusters, sk, margin=swap_margin, prior=prior, noise=noise)
        with timer("orientation"):
            ob = exchange_pairs(sb, orientation.exchanged, sk.flip_pairs) if orient else sb
        with timer("consensus"):
            first = method if method in ("learned", "median", "mean") else "median"  # weighted: unweighted first
            consensus, loo = consensus_from_clusters(ob, clusters, sig, quorum=quorum, replicas=replicas, method=first,
                                                     noise=noise, subtract_offsets=subtract_offsets,
                                                     with_leave_one_out=True)
            consensus = replace(consensus, undecided=orientation.undecided)
        late = side.submit(timer.run, "checks", lambda: [swap_flags(sb, sk, orientation), check_visibility(sb, loo)])
        acc = consensus.accepted[cl]
        sigmas = side.submit(timer.run, "sigmas", estimate_sigmas, ob, pa[acc], pb[acc])
        with timer("reliability"):
            # as drawn against the others' (oriented) consensus: a swap costs its annotator
            loo_oks, loo_per = pair_agreement(sb, loo.instance, np.arange(len(loo)), sig, other=loo.reference,
                                              keypoints=True)
            reliability = annotator_reliability(ob, consensus, loo, sig, assignments=assignments, gold=gold,
                                                pck_threshold=pck_threshold, member_pairs=(pa, pb),
                                                loo_scores=(loo_oks, loo_per), noise=noise)
            instance_oks = np.full(len(sb), np.nan)
            instance_oks[loo.instance] = loo_oks
            missed = missed_objects(sb, consensus, assignments)
        if method.startswith("weighted_"):
            with timer("consensus"):
                consensus = consensus_from_clusters(ob, clusters, sig, quorum=quorum, replicas=replicas,
                                                    method=method.removeprefix("weighted_"),
                                                    weights=reliability.weight)
                consensus = replace(consensus, undecided=orientation.undecided)
        images, sigmas = images.result(), sigmas.result()
        flags = Flags.concat([alone.result()] + late.result())  # in `run_checks`' order

    if order is not None:  # positions back to the caller's order
        with timer("sort"):
            consensus, loo, flags, instance_oks = _unsort(order, consensus, loo, flags, instance_oks)
            exchanged = np.empty_like(orientation.exchanged)
            exchanged[order] = orientation.exchanged
            inst, pair, score = orientation.flagged
            orientation = replace(orientation, exchanged=exchanged, flagged=(order[inst], pair, score))
    timer.times["total"] = time.perf_counter() - started
    return PipelineResult(consensus=consensus, images=images, reliability=reliability, flags=flags,
                          sigmas=sigmas, instance_oks=instance_oks, leave_one_out=loo,
                          n_pairs=int(a.shape[0]), orientation=orientation, noise=noise, missed=missed,
                          offsets_subtracted=bool(subtract_offsets and method == "learned"),
                          timings=timer.times)


def _unsort(order: np.ndarray, consensus: Consensus, loo: LeaveOneOut, flags: Flags, instance_oks):
    """Map sorted-batch positions back to the caller's positions."""
    n = order.shape[0]
    cl = consensus.clusters
    of = np.empty(n, np.int64)
    of[order] = cl.of
    members = np.where(cl.members >= 0, order[np.maximum(cl.members, 0)], -1)
    clusters = Clusters(of=of, members=members, image=cl.image, support=cl.support)
    inst_oks = np.empty(n)
    inst_oks[order] = instance_oks
    return (replace(consensus, clusters=clusters), replace(loo, instance=order[loo.instance]),
            flags.remap_instances(order), inst_oks)
