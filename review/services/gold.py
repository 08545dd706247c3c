"""Score a submission on a gold image against gold, per object and per keypoint.

The numbers are COCO's: `compute_oks` with the gold instance as reference
(pycocotools' `computeOks`, the skeleton's sigmas), gold objects matched to
the submitted instances by Hungarian assignment on OKS. A gold object with
no match and an extra submitted instance both count as OKS 0, so drawing
nothing, or drawing everything twice, scores low.

Called in the submit transaction (annotation.signals.gold_submitted), so
qualification and pausing are decided before the annotator's next request.
"""

from __future__ import annotations

import numpy as np
from django.db import transaction

from annotation.models import Annotation, Assignment, SkeletonSpec
from review.agreement import compute_oks, match_instances

from ..models import GoldScore

#: Gold objects and submitted instances match above this OKS: low, so a poor
#: label still meets its object and its mistakes can be shown per keypoint.
GOLD_MATCH_OKS = 0.05


def _arrays(instances: list[dict], k: int):
    kp = np.asarray([inst["keypoints"] for inst in instances], dtype=np.float64).reshape(-1, k, 3)
    box = np.asarray([inst["bbox"] for inst in instances], dtype=np.float64).reshape(-1, 4)
    area = np.asarray([inst.get("area") or b[2] * b[3] for inst, b in zip(instances, box)], dtype=np.float64)
    return kp, box, area


def score_against_gold(gold: list[dict], submitted: list[dict], spec: SkeletonSpec) -> dict:
    """OKS of `submitted` against `gold` with per-object and per-keypoint detail (no database)."""
    k = spec.num_keypoints
    sigmas = np.asarray(spec.sigmas, dtype=np.float64)
    g_kp, g_box, g_area = _arrays(gold, k)
    s_kp, _, _ = _arrays(submitted, k)
    g, d = len(g_kp), len(s_kp)
    if g == 0:
        return {"oks": 1.0 if d == 0 else 0.0, "instances": [], "keypoints": [], "extra": d}
    oks = compute_oks(g_kp[None, :, :, :2], g_kp[None, :, :, 2], g_area[None], s_kp[:, None, :, :2], sigmas,
                      ref_bbox=g_box[None]) if d else np.zeros((0, g))  # (D, G)
    match = match_instances(oks.T, threshold=GOLD_MATCH_OKS) if d else None
    rows = match.rows if match is not None else np.zeros(0, np.int64)
    cols = match.cols if match is not None else np.zeros(0, np.int64)
    per_object = np.zeros(g)
    per_object[rows] = oks[cols, rows]
    mean = float(per_object.sum() / (g + d - len(rows)))
    # Per keypoint over matched objects, where gold labeled the keypoint.
    gk, sk = g_kp[rows], s_kp[cols]  # (M, K, 3)
    labeled = gk[..., 2] > 0
    delta = sk[..., :2] - gk[..., :2]  # (M, K, 2) submitted minus gold, px
    scale = np.sqrt(g_area[rows])[:, None] * 2 * sigmas[None, :]  # (M, K) the OKS tolerance, px
    term = np.exp(-(delta ** 2).sum(-1) / (2 * scale ** 2))
    missed = labeled & (sk[..., 2] == 0)
    n = labeled.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_delta = np.where(labeled[..., None], delta, 0).sum(0) / n[:, None]  # (K, 2)
        mean_term = np.where(labeled, term, 0).sum(0) / n
        distance = np.where(labeled, np.linalg.norm(delta, axis=-1) / scale, 0).sum(0) / n
    keypoints = [
        {"keypoint": name, "oks": round(float(t), 4), "dx": round(float(dx), 2), "dy": round(float(dy), 2),
         "distance_sigmas": round(float(dist), 3), "missed": int(m)}
        for name, t, (dx, dy), dist, m, count in zip(spec.names, mean_term, mean_delta, distance, missed.sum(0), n)
        if count
    ]
    instances = [
        {"gold": int(j), "instance": int(cols[list(rows).index(j)]) if j in rows else None,
         "oks": round(float(per_object[j]), 4)}
        for j in range(g)
    ]
    return {"oks": round(mean, 6), "instances": instances, "keypoints": keypoints, "extra": int(d - len(rows))}


def score_gold_submission(assignment: Assignment, spec: SkeletonSpec, *, qualification: bool) -> GoldScore | None:
    """Store the GoldScore of one submitted assignment on a gold image (idempotent); None without gold labels."""
    gold = Annotation.objects.filter(image_id=assignment.image_id, source=Annotation.Source.GOLD).values_list(
        "instances", flat=True).first()
    if gold is None:
        return None
    submitted = Annotation.objects.values_list("instances", flat=True).get(pk=assignment.annotation_id)
    scored = score_against_gold(gold, submitted, spec)
    score, _ = GoldScore.objects.update_or_create(
        assignment_id=assignment.pk,
        defaults={"project_id": assignment.project_id, "image_id": assignment.image_id,
                  "annotator_id": assignment.annotator_id, "oks": scored["oks"], "instances": scored["instances"],
                  "keypoints": scored["keypoints"], "qualification": qualification},
    )
    return score


def promote_to_gold(image_id: int, actor) -> Annotation:
    """A QA lead makes an accepted image a gold image: its final labels become its gold labels.

    The final labels are the `review` annotation a decision wrote, else the
    consensus it was auto-accepted with. The image stays accepted (its ground
    truth does not change); from now on it checks annotators like imported gold.
    Like a decision, the promotion adds a row to the append-only audit trail
    (action `promote_gold`, no review task), in the same transaction.
    """
    from django.core.exceptions import ValidationError

    from annotation.models import Image
    from annotation.services.annotations import replace_source_annotations

    from ..models import ReviewDecision

    with transaction.atomic():
        image = Image.objects.select_for_update().get(pk=image_id)
        if image.status != Image.Status.ACCEPTED:
            raise ValidationError({"image": [f"Only an accepted image can become gold; this one is '{image.status}'."]})
        finals = dict(Annotation.objects.filter(
            image=image, source__in=(Annotation.Source.REVIEW, Annotation.Source.CONSENSUS, Annotation.Source.GOLD),
        ).values_list("source", "id"))
        source = Annotation.Source.REVIEW if Annotation.Source.REVIEW in finals else Annotation.Source.CONSENSUS
        final = Annotation.objects.filter(pk=finals.get(source)).values_list("instances", "version").first()
        if not final or not final[0]:
            raise ValidationError({"image": ["This image has no accepted labels to promote."]})
        replace_source_annotations(Annotation.Source.GOLD, {image.pk: final[0]})
        Image.objects.filter(pk=image.pk).update(is_gold=True)
        gold = Annotation.objects.get(image=image, source=Annotation.Source.GOLD)
        ReviewDecision.objects.create(
            task=None, image=image, project_id=image.project_id, actor=actor, action=ReviewDecision.Action.PROMOTE_GOLD,
            payload={"from": {"source": source, "annotation": finals[source], "version": final[1]},
                     "gold": {"annotation": gold.pk, "version": gold.version}},
            state_before={"image_status": image.status, "is_gold": image.is_gold,
                          "gold": {"annotation": finals[Annotation.Source.GOLD]} if Annotation.Source.GOLD in finals
                          else None},
        )
        return gold


def on_gold_submitted(sender, assignment: Assignment, project, **kwargs) -> None:
    """Receiver of annotation.signals.gold_submitted: score, then qualification and pausing."""
    from .quality import after_gold_score

    with transaction.atomic():
        after_gold_score(assignment, project)
