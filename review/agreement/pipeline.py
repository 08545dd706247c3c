"""Everything for a batch of images in one call: the entry point for jobs.

``run_pipeline(batch, skeleton)`` scores every cross-annotator pair, clusters
instances into objects, builds the consensus, measures image agreement and
annotator reliability, runs the automatic checks and learns sigmas — each
stage a few array operations over the whole batch. Inputs and outputs are
plain NumPy arrays and small dataclasses; instance positions in the result
refer to the batch as passed in (``batch.ids[pos]`` gives annotation ids).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from .batch import InstanceBatch, instance_pairs
from .checks import Flags, run_checks
from .clustering import Clusters, cluster_instances, mirror_tolerant
from .consensus import Consensus, LeaveOneOut, consensus_from_clusters, image_replicas
from .image_agreement import ImageAgreement, image_agreement
from .oks import pair_agreement
from .reliability import Reliability, annotator_reliability
from .sigmas import SigmaEstimate, estimate_sigmas
from .skeleton import Skeleton

__all__ = ["PipelineResult", "run_pipeline", "CONSENSUS_METHODS"]

CONSENSUS_METHODS = ("median", "mean", "weighted_median", "weighted_mean")


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
    timings : dict of str to float
        Seconds per stage.
    """

    consensus: Consensus
    images: ImageAgreement
    reliability: Reliability
    flags: Flags
    sigmas: SigmaEstimate
    instance_oks: np.ndarray
    leave_one_out: LeaveOneOut
    n_pairs: int
    timings: dict = field(default_factory=dict)


class _Timer:
    def __init__(self):
        self.times: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str):
        t0 = time.perf_counter()
        yield
        self.times[stage] = self.times.get(stage, 0.0) + time.perf_counter() - t0


def run_pipeline(batch: InstanceBatch, skeleton, *, threshold: float = 0.5, quorum=None,
                 assignments=None, gold: InstanceBatch | None = None, image_size=None,
                 method: str = "median", pck_threshold: float = 0.1, swap_margin: float = 0.3,
                 box_margin: float = 0.25, limb_z: float = 3.5, duplicate_threshold: float = 0.7,
                 dtype=np.float64) -> PipelineResult:
    """Agreement, matching, consensus, reliability, checks and sigmas for a batch.

    Parameters
    ----------
    batch : InstanceBatch
        Instances of all annotators for the images to score.
    skeleton : Skeleton
        Or anything with ``sigmas``/``flip_pairs``/``edges`` (e.g. ``SkeletonSpec``).
    threshold : float
        Minimum `agreement_oks` for two instances to be the same object.
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
    method : {"median", "mean", "weighted_median", "weighted_mean"}
        Consensus position; the weighted ones use `Reliability.weight`
        (learned from an unweighted first pass).
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
    with timer("agreement"):
        sim = pair_agreement(sb, a, b, sig, dtype=dtype)
    with timer("matching"):
        match_sim = mirror_tolerant(sb, a, b, sim, sig, sk.flip_permutation, threshold=threshold)
        clusters = cluster_instances(sb, a, b, match_sim, threshold)
    with timer("consensus"):
        base = "mean" if method == "mean" else "median"
        consensus, loo = consensus_from_clusters(sb, clusters, sig, quorum=quorum, replicas=replicas,
                                                 method=base, with_leave_one_out=True)
    with timer("image_agreement"):
        cl, pa, pb = clusters.member_pairs()
        images = image_agreement(sb, clusters, sig, replicas=replicas, member_pairs=(cl, pa, pb))
    with timer("reliability"):
        loo_oks, loo_per = pair_agreement(sb, loo.instance, np.arange(len(loo)), sig, other=loo.reference,
                                          keypoints=True)
        reliability = annotator_reliability(sb, consensus, loo, sig, assignments=assignments, gold=gold,
                                            pck_threshold=pck_threshold, member_pairs=(pa, pb),
                                            loo_scores=(loo_oks, loo_per))
        instance_oks = np.full(len(sb), np.nan)
        instance_oks[loo.instance] = loo_oks
    if method.startswith("weighted_"):
        with timer("consensus"):
            consensus = consensus_from_clusters(sb, clusters, sig, quorum=quorum, replicas=replicas,
                                                method=method.removeprefix("weighted_"),
                                                weights=reliability.weight)
    with timer("checks"):
        flags = run_checks(sb, sk, clusters, loo, image_size=image_size, swap_margin=swap_margin,
                           box_margin=box_margin, limb_z=limb_z, duplicate_threshold=duplicate_threshold,
                           same_pairs=same_pairs)
    with timer("sigmas"):
        acc = consensus.accepted[cl]
        sigmas = estimate_sigmas(sb, pa[acc], pb[acc])

    if order is not None:  # positions back to the caller's order
        with timer("sort"):
            consensus, loo, flags, instance_oks = _unsort(order, consensus, loo, flags, instance_oks)
    timer.times["total"] = sum(timer.times.values())
    return PipelineResult(consensus=consensus, images=images, reliability=reliability, flags=flags,
                          sigmas=sigmas, instance_oks=instance_oks, leave_one_out=loo,
                          n_pairs=int(a.shape[0]), timings=timer.times)


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
