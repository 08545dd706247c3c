"""Jointly's agreement engine: pure NumPy/SciPy kernels, no Django.

Arrays in, arrays out; shapes are documented on every function. The usual
entry point is `run_pipeline` on an `InstanceBatch`; the pieces are public
for reuse and testing:

=======================  ==================================================
module / function        what it does
=======================  ==================================================
`InstanceBatch`          all instances of many images as flat arrays
`instance_pairs`         every within-image instance pair, no loops
`compute_oks`            COCO OKS (equal to pycocotools' ``computeOks``)
`agreement_oks`          symmetric annotator-vs-annotator OKS, per keypoint
`pair_oks`,              both, for millions of instance pairs of a batch
`pair_agreement`
`compute_pck`            PCK@t normalized by the box's longer side
`match_instances`        Hungarian matching of two annotators in an image
`assign_blocks`          ... of all images of a batch at once
`cluster_instances`      objects across n annotators (complete linkage)
`orient_members`         who swapped left/right, undecided objects, history
`geometric_median`       robust centers (closed forms, Weiszfeld, Newton)
`learn_noise`            per-annotator, per-keypoint spread and offset (EM)
`build_consensus`        clusters + votes + robust or learned positions + spread
`leave_one_out`          consensus without each member (for grading)
`image_agreement`        per-image and per-keypoint agreement
`annotator_reliability`  per-annotator OKS, gold, bias, error variance
`missed_objects`         who did not draw which accepted object
`run_checks`             swap, outside, visibility, limb, duplicate flags
`estimate_sigmas`        per-keypoint sigmas learned from redundant labels
`run_pipeline`           all of the above for a batch, one call
`summarize`              project histogram and tables
`simulate.simulate_project`  projects with known truth, for tests and benches
=======================  ==================================================

A Django job builds an `InstanceBatch` from its rows (`InstanceBatch.from_arrays`
or `from_coco`), calls ``run_pipeline(batch, project.skeleton.spec(),
assignments=..., gold=..., image_size=...)`` and stores what it needs from
the `PipelineResult`; instance positions in the result map back to rows with
``batch.ids``.
"""

from .batch import InstanceBatch, instance_pairs
from .center import geometric_median, weighted_mean
from .checks import (FLAG_CODES, Flags, check_duplicates, check_left_right_swap, check_limbs,
                     check_outside, check_visibility, run_checks, swap_flags)
from .clustering import Clusters, cluster_instances, mirror_tolerant
from .consensus import (Consensus, LeaveOneOut, build_consensus, consensus_from_clusters,
                        image_replicas, leave_one_out, majority_quorum)
from .image_agreement import ImageAgreement, image_agreement
from .matching import Match, SourceMatch, assign_blocks, match_instances, match_sources
from .oks import agreement_oks, box_iou, compute_oks, pair_agreement, pair_oks
from .pck import compute_pck, pair_pck
from .noise import NoiseModel, learn_noise
from .orientation import Orientation, exchange_pairs, orient_members
from .pipeline import AnnotatorHistory, PipelineResult, run_pipeline
from .reliability import (Reliability, annotator_bias, annotator_error_variance, annotator_reliability,
                          missed_objects)
from .sigmas import SigmaEstimate, estimate_sigmas
from .skeleton import COCO_KEYPOINT_NAMES, COCO_PERSON, COCO_SIGMAS, Skeleton
from .summary import ProjectSummary, summarize

__all__ = [
    "InstanceBatch", "instance_pairs", "Skeleton", "COCO_PERSON", "COCO_SIGMAS", "COCO_KEYPOINT_NAMES",
    "compute_oks", "agreement_oks", "pair_oks", "pair_agreement", "box_iou", "compute_pck", "pair_pck",
    "Match", "SourceMatch", "match_instances", "assign_blocks", "match_sources",
    "Clusters", "cluster_instances", "mirror_tolerant", "geometric_median", "weighted_mean",
    "Consensus", "LeaveOneOut", "build_consensus", "consensus_from_clusters", "leave_one_out",
    "majority_quorum", "image_replicas",
    "ImageAgreement", "image_agreement", "Reliability", "annotator_reliability", "annotator_error_variance",
    "annotator_bias", "missed_objects", "NoiseModel", "learn_noise", "Orientation", "orient_members",
    "exchange_pairs", "AnnotatorHistory",
    "Flags", "FLAG_CODES", "run_checks", "check_left_right_swap", "swap_flags", "check_outside", "check_visibility",
    "check_limbs", "check_duplicates", "SigmaEstimate", "estimate_sigmas",
    "PipelineResult", "run_pipeline", "ProjectSummary", "summarize",
]
