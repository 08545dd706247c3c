"""Score images: annotators' replicas in, agreement, consensus and a decision out.

The numbers come from the NumPy engine in `review.agreement` (one
`run_pipeline` call over every image of the batch); this module only moves
rows in and out of the database, in bulk, and decides what happens to each
image:

- auto-accepted when its agreement reaches the project's `auto_accept_oks`,
  every drawn object reached the quorum, no blocking flag was raised, and it
  was not drawn for the spot-check sample (`review_sample_rate`);
- otherwise sent to review with the reasons, so the QA lead sees why.

Scoring is idempotent: the consensus annotation, the ConsensusResult and the
review task are rewritten, not added to, and only images still in `scoring`
change status, so a QA decision is never undone by a re-run.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import orjson
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast

from annotation.models import Annotation, Assignment, Image, Project, SkeletonSpec
from annotation.services import image_status
from annotation.services.annotations import replace_source_annotations
from jointly.bulk import upsert
from review.agreement import FLAG_CODES, InstanceBatch, PipelineResult, run_pipeline, summarize
from review.agreement.oks import pair_agreement

from ..models import ConsensusResult, ProjectAgreement, ReviewTask

Source = Annotation.Source
#: Flags that send an image to review on their own. The others are shown but
#: do not block: visibility disagreement already lowers the agreement, a point
#: just past the image border passed submit validation's tolerance, and limb
#: lengths are only judged well against a whole project (see `score_project`).
BLOCKING_FLAGS = ("left_right_swap", "duplicate_instance", "outside_box")
SCORED_STATUSES = image_status.SCORED


@dataclass
class _Rows:
    """The batch plus where each of its instances came from."""

    batch: InstanceBatch
    images: list[Image]
    annotation_id: np.ndarray  # (N,) Annotation.pk of each instance
    instance_index: np.ndarray  # (N,) position in that annotation's `instances`
    annotators: np.ndarray  # (S,) user ids, index = batch source
    inputs: list[dict]  # per image: {annotation id: version}
    assignments: tuple[np.ndarray, np.ndarray]
    gold: InstanceBatch | None
    #: per image: {annotator id: instances drawn} of annotations over the project's cap
    oversized: list[dict] = field(default_factory=list)


def _load(images: list[Image], spec: SkeletonSpec, max_instances: int | None = None) -> _Rows:
    """One query for the annotations, one for the assignments, one for gold; no query per image.

    An annotation with more than `max_instances` instances (submit refuses them, but
    older rows may hold them) contributes its first `max_instances` only, and is
    recorded in `oversized`: matching costs grow with the square of the instances per
    image, so one absurd annotation must not stall the whole scoring queue.
    """
    k = spec.num_keypoints
    position = {image.pk: i for i, image in enumerate(images)}
    # The instances come back as text and orjson parses them: several times
    # faster than the driver's json module for a project's worth of rows.
    annotations = [
        (pk, image_id, annotator_id, version, orjson.loads(text))
        for pk, image_id, annotator_id, version, text in
        Annotation.objects.filter(image_id__in=position, source=Source.ANNOTATOR)
        .order_by("image_id", "annotator_id")
        .values_list("pk", "image_id", "annotator_id", "version", Cast("instances", TextField()))
    ]
    submitted = list(
        Assignment.objects.filter(image_id__in=position, state=Assignment.State.SUBMITTED)
        .values_list("image_id", "annotator_id")
    )
    annotators = np.unique(
        np.array([a[2] for a in annotations] + [s[1] for s in submitted], dtype=np.int64)
    )
    source_of = {int(user): i for i, user in enumerate(annotators)}
    inputs: list[dict] = [{} for _ in images]
    oversized: list[dict] = [{} for _ in images]
    keypoints, boxes, areas, image_idx, source_idx, ann_ids, inst_idx = [], [], [], [], [], [], []
    for pk, image_id, annotator_id, version, instances in annotations:
        inputs[position[image_id]][str(pk)] = version
        if max_instances is not None and len(instances) > max_instances:
            oversized[position[image_id]][int(annotator_id)] = len(instances)
            instances = instances[:max_instances]
        for j, inst in enumerate(instances):
            keypoints.append(inst["keypoints"])
            boxes.append(inst["bbox"])
            areas.append(inst.get("area", math.nan))
            image_idx.append(position[image_id])
            source_idx.append(source_of[annotator_id])
            ann_ids.append(pk)
            inst_idx.append(j)
    batch = InstanceBatch.from_arrays(
        np.asarray(keypoints, dtype=np.float64).reshape(-1, k, 3),
        np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        np.asarray(image_idx, dtype=np.int64), np.asarray(source_idx, dtype=np.int64),
        area=np.asarray(areas, dtype=np.float64), n_images=len(images), n_sources=max(len(annotators), 1),
    )
    assignments = (
        np.asarray([position[i] for i, _ in submitted], dtype=np.int64),
        np.asarray([source_of[u] for _, u in submitted], dtype=np.int64),
    )
    return _Rows(
        batch=batch, images=images, annotation_id=np.asarray(ann_ids, dtype=np.int64),
        instance_index=np.asarray(inst_idx, dtype=np.int64), annotators=annotators, inputs=inputs,
        assignments=assignments, gold=_load_gold(images, position, k), oversized=oversized,
    )


def _load_gold(images: list[Image], position: dict, k: int) -> InstanceBatch | None:
    gold_ids = [image.pk for image in images if image.is_gold]
    if not gold_ids:
        return None
    rows = [
        (position[image_id], inst)
        for image_id, instances in Annotation.objects.filter(image_id__in=gold_ids, source=Source.GOLD)
        .values_list("image_id", "instances")
        for inst in instances
    ]
    if not rows:
        return None
    return InstanceBatch.from_arrays(
        np.asarray([inst["keypoints"] for _, inst in rows], dtype=np.float64).reshape(-1, k, 3),
        np.asarray([inst["bbox"] for _, inst in rows], dtype=np.float64).reshape(-1, 4),
        np.asarray([i for i, _ in rows], dtype=np.int64), np.zeros(len(rows), dtype=np.int64),
        area=np.asarray([inst.get("area", math.nan) for _, inst in rows], dtype=np.float64),
        n_images=len(images),
    )


def _sampled_for_review(image_id: int, rate: float) -> bool:
    """A stable draw per image, so re-scoring makes the same spot-check choice."""
    digest = hashlib.blake2b(f"review-sample:{image_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate


def _none_if_nan(values: np.ndarray) -> list:
    """Rounded to 6 places, NaN as None (JSON has no NaN); nested lists for 2-D input."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), np.round(values, 6), None).tolist()


def _decide(project: Project, image: Image, agreement: float | None, n_drawn: int, rejected: int,
            blocking: dict[str, int], n_annotators: int) -> tuple[str, list[str]]:
    reasons = []
    if agreement is not None:
        if agreement < project.auto_accept_oks:
            reasons.append(f"agreement {agreement:.3f} is below the auto-accept threshold {project.auto_accept_oks:.2f}")
    elif n_drawn and project.replicas >= 2:
        # Redundancy was asked for but did not happen (one annotator drew, the others saw nothing).
        # A single-replica project cannot measure agreement by design: flags and the sample decide.
        reasons.append("agreement cannot be measured: fewer than two annotators drew this image's objects")
    if rejected:
        reasons.append(f"{rejected} instance(s) drawn by too few annotators to reach the quorum")
    for code, count in blocking.items():
        reasons.append(f"{count} flag(s) '{code}': {FLAG_CODES[code].lower().rstrip('.')}")
    if not reasons and _sampled_for_review(image.pk, project.review_sample_rate):
        reasons.append(f"drawn for the spot-check sample ({project.review_sample_rate:.0%} of accepted images)")
    decision = ConsensusResult.Decision.NEEDS_REVIEW if reasons else ConsensusResult.Decision.AUTO_ACCEPTED
    return decision, reasons


def _pairwise(rows: _Rows, result: PipelineResult, sigmas: np.ndarray) -> list[dict]:
    """Per image, mean OKS of each annotator pair over the objects both drew."""
    cluster, a, b = result.consensus.clusters.member_pairs()
    out: list[dict] = [{} for _ in rows.images]
    if a.size == 0:
        return out
    oks = pair_agreement(rows.batch, a, b, sigmas)
    src = rows.batch.source
    lo, hi = np.minimum(src[a], src[b]), np.maximum(src[a], src[b])
    image = rows.batch.image[a]
    key = (image * len(rows.annotators) + lo) * len(rows.annotators) + hi
    keys, inverse = np.unique(key, return_inverse=True)
    sums = np.bincount(inverse, weights=oks)
    counts = np.bincount(inverse)
    n = len(rows.annotators)
    for k_, s_, c_ in zip(keys.tolist(), sums.tolist(), counts.tolist()):
        img, rest = divmod(k_, n * n)
        x, y = divmod(rest, n)
        out[img][f"{rows.annotators[x]}-{rows.annotators[y]}"] = round(s_ / c_, 6)
    return out


@dataclass
class _Scored:
    """What one scoring pass did, and the engine's output for the project report."""

    auto_accepted: int = 0
    needs_review: int = 0
    result: PipelineResult | None = None
    rows: _Rows | None = None

    @property
    def scored(self) -> int:
        return self.auto_accepted + self.needs_review


def score_images(image_ids: Iterable[int], *, progress: Callable | None = None) -> dict:
    """Score these images (any projects) and store consensus, results, decisions. Idempotent."""
    ids = sorted(set(int(i) for i in image_ids))
    project_ids = Image.objects.filter(pk__in=ids).values_list("project_id", flat=True).distinct()
    summary = {"scored": 0, "auto_accepted": 0, "needs_review": 0}
    for project in Project.objects.filter(pk__in=project_ids).select_related("skeleton"):
        done = _score(project, Image.objects.filter(pk__in=ids, project=project), progress)
        summary["scored"] += done.scored
        summary["auto_accepted"] += done.auto_accepted
        summary["needs_review"] += done.needs_review
    return summary


@transaction.atomic
def _score(project: Project, images_qs, progress=None) -> _Scored:
    images = list(images_qs.select_for_update().order_by("pk"))
    if not images:
        return _Scored()
    spec = project.skeleton.spec()
    rows = _load(images, spec, project.max_instances_per_image)
    if progress:
        progress(0.2, 1, f"scoring {len(images)} images, {len(rows.batch)} instances")
    result = run_pipeline(
        rows.batch, spec, assignments=rows.assignments, gold=rows.gold,
        image_size=np.array([[im.width, im.height] for im in images], dtype=np.float64),
    )
    if progress:
        progress(0.7, 1, "storing consensus and decisions")
    accepted = _store(project, rows, result, spec)
    return _Scored(auto_accepted=accepted, needs_review=len(images) - accepted, result=result, rows=rows)


def _store(project: Project, rows: _Rows, result: PipelineResult, spec: SkeletonSpec) -> int:
    """Write consensus, results, statuses and review tasks; returns how many images were auto-accepted."""
    sigmas = np.asarray(spec.sigmas, dtype=np.float64)
    images = rows.images
    n_img = len(images)
    con = result.consensus
    img_agree = result.images
    batch = rows.batch
    # Per image: instances drawn, instances the quorum rejected, annotators assigned.
    drawn = np.bincount(batch.image, minlength=n_img)
    rejected_mask = ~con.accepted[con.clusters.of] if len(batch) else np.zeros(0, bool)
    rejected = np.bincount(batch.image[rejected_mask], minlength=n_img)
    assigned = np.unique(np.c_[rows.assignments[0], rows.assignments[1]], axis=0)
    n_annotators = np.bincount(assigned[:, 0], minlength=n_img)
    flags = result.flags
    blocking_mask = np.isin(flags.code, BLOCKING_FLAGS)
    pairwise = _pairwise(rows, result, sigmas)
    # Per image, per annotator: mean OKS of their instances against the others' consensus.
    inst_oks = np.nan_to_num(result.instance_oks, nan=0.0)
    flag_records = [[] for _ in images]
    for code, img, inst, kp, other_kp, score in zip(
        flags.code.tolist(), flags.image.tolist(), flags.instance.tolist(), flags.keypoint.tolist(),
        flags.other_keypoint.tolist(), flags.score.tolist(),
    ):  # one dict per raised flag: there are few
        flag_records[img].append({
            "code": code, "annotator": int(rows.annotators[batch.source[inst]]),
            "annotation": int(rows.annotation_id[inst]), "instance": int(rows.instance_index[inst]),
            "keypoint": spec.names[kp] if kp >= 0 else None,
            "other_keypoint": spec.names[other_kp] if other_kp >= 0 else None,
            "score": round(score, 4), "message": FLAG_CODES[code],
        })
    per_image_annotator: list[dict] = [{} for _ in images]
    key = batch.image * max(len(rows.annotators), 1) + batch.source
    keys, inverse = np.unique(key, return_inverse=True)
    sums, counts = np.bincount(inverse, weights=inst_oks), np.bincount(inverse)
    for k_, s_, c_ in zip(keys.tolist(), sums.tolist(), counts.tolist()):
        img, src = divmod(k_, max(len(rows.annotators), 1))
        per_image_annotator[img][str(int(rows.annotators[src]))] = {"oks": round(s_ / c_, 6), "instances": c_}

    objects = [[] for _ in images]
    consensus_instances = [[] for _ in images]
    cinst = con.instances
    keypoints = np.concatenate([np.round(cinst.xy, 3), cinst.v[..., None]], axis=2).reshape(len(con), -1)
    keypoints = keypoints.astype(object)
    keypoints[:, 2::3] = cinst.v.astype(int).tolist()  # visibility stays an int in JSON
    spreads = _none_if_nan(con.spread)
    for c, (img, kp, box, area, support, quorum, accepted, spread) in enumerate(zip(
        cinst.image.tolist(), keypoints.tolist(), np.round(cinst.bbox, 3).tolist(),
        np.round(cinst.area, 3).tolist(), con.support.tolist(), con.quorum.tolist(), con.accepted.tolist(), spreads,
    )):  # one per consensus object
        objects[img].append({"support": support, "quorum": quorum, "accepted": accepted, "spread": spread})
        if accepted:
            consensus_instances[img].append({"bbox": box, "keypoints": kp, "area": area})

    blocking_by_image: list[dict[str, int]] = [{} for _ in images]
    for code, img in zip(flags.code[blocking_mask].tolist(), flags.image[blocking_mask].tolist()):
        blocking_by_image[img][code] = blocking_by_image[img].get(code, 0) + 1
    keypoint_agreement = _none_if_nan(img_agree.keypoint)
    agreements = _none_if_nan(img_agree.agreement)
    visibility = _none_if_nan(img_agree.visibility)

    results, to_accept, to_review = [], [], []
    for i, image in enumerate(images):
        blocking = blocking_by_image[i]
        decision, reasons = _decide(project, image, agreements[i], int(drawn[i]), int(rejected[i]), blocking,
                                    int(n_annotators[i]))
        if rows.oversized[i]:  # scored on a truncated sample: a person decides
            decision = ConsensusResult.Decision.NEEDS_REVIEW
            cap = project.max_instances_per_image
            reasons = [*reasons, *(
                f"annotator {user} drew {count} instances, over the project's limit of {cap}; "
                f"only the first {cap} were scored" for user, count in rows.oversized[i].items())]
            flag_records[i].extend(
                {"code": "too_many_instances", "annotator": user, "instances": count, "limit": cap,
                 "message": "More instances than the project's max_instances_per_image; scored on the first ones."}
                for user, count in rows.oversized[i].items())
        results.append(ConsensusResult(
            image=image, project=project, agreement=agreements[i], keypoint_agreement=keypoint_agreement[i],
            visibility_agreement=visibility[i],
            n_annotators=int(n_annotators[i]), n_objects=len(consensus_instances[i]), clusters=objects[i],
            annotator_scores={"per_annotator": per_image_annotator[i], "pairwise": pairwise[i]},
            flags=flag_records[i], decision=decision, reasons=reasons, inputs=rows.inputs[i],
        ))
        if image.status == Image.Status.SCORING:
            (to_accept if decision == ConsensusResult.Decision.AUTO_ACCEPTED else to_review).append(image)

    upsert(
        ConsensusResult, results, unique_fields=["image"],
        update_fields=["agreement", "keypoint_agreement", "visibility_agreement", "n_annotators", "n_objects",
                       "clusters", "annotator_scores", "flags", "decision", "reasons", "inputs", "computed_at"],
    )
    replace_source_annotations(Source.CONSENSUS, {im.pk: inst for im, inst in zip(images, consensus_instances)})
    image_status.auto_accept(to_accept)
    image_status.send_to_review(to_review)
    reasons_of = {r.image_id: r.reasons for r in results}
    ReviewTask.objects.bulk_create(
        [ReviewTask(image=im, project=project, reasons=reasons_of[im.pk]) for im in to_review],
        batch_size=2000, ignore_conflicts=True,
    )
    return sum(1 for r in results if r.decision == ConsensusResult.Decision.AUTO_ACCEPTED)


@transaction.atomic
def score_project(project: Project, *, progress: Callable | None = None) -> ProjectAgreement:
    """Re-score every scored image of a project together and store the project report.

    Scoring the whole project at once gives the checks the project's own
    limb-length distribution and the annotators' reliability over all their
    work; the report is what `/api/v1/projects/{id}/agreement/` serves.
    """
    images_qs = Image.objects.filter(project=project, status__in=SCORED_STATUSES)
    done = _score(project, images_qs, progress)
    if done.result is None:
        report = {"images_scored": 0}
    else:
        spec = project.skeleton.spec()
        report = summarize(done.result, spec, names=spec.names, source_ids=done.rows.annotators).to_dict()
        report["decisions"] = {"auto_accepted": done.auto_accepted, "needs_review": done.needs_review}
        report["timings"] = {k: round(v, 3) for k, v in done.result.timings.items()}
    agreement, _ = ProjectAgreement.objects.update_or_create(
        project=project, defaults={"report": report, "n_images": done.scored}
    )
    if progress:
        progress(1, 1, f"scored {done.scored} images")
    return agreement
