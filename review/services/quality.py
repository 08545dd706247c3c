"""Qualification and automatic pausing: decided here, enforced by the engine from the staffing row.

- Qualification: on a project with `qualification_images = N > 0`, an
  annotator who has not passed gets only gold images; after N gold scores
  their mean gold OKS decides: `passed` (production tasks from then on) or
  `failed` (no tasks; the result lists, per keypoint, how far and in which
  direction they were off). Qualification gold never counts toward any
  image's replicas: gold images are never scored into a consensus.
- Pausing: with a floor on gold OKS (`pause_gold_oks`) or leave-one-out OKS
  (`pause_loo_oks`), an annotator whose rolling mean over their last
  `pause_window` scored images falls below it is paused at once, with the
  figures, until their vendor manager resumes them. After a resume only
  work scored since counts, so the old window does not pause them again.

Both outcomes are written to the annotator's ProjectAnnotator row, which
`access.task_context` already reads for every tasks/next: the engine checks
them with no extra query.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from django.utils import timezone

from annotation.models import Assignment, Project, ProjectAnnotator

from ..models import ConsensusResult, GoldScore
from .gold import score_gold_submission

Qualification = ProjectAnnotator.Qualification
#: The rolling figures need this many scored images (or the whole window, if smaller) before they pause anyone.
MIN_SCORED_TO_PAUSE = 5


def after_gold_score(assignment: Assignment, project: Project) -> GoldScore | None:
    project = Project.objects.select_related("skeleton").get(pk=project.pk)
    staffing = ProjectAnnotator.objects.select_for_update().filter(
        project=project, user_id=assignment.annotator_id).first()
    qualifying = bool(project.qualification_images) and staffing is not None and (
        staffing.qualification != Qualification.PASSED)
    score = score_gold_submission(assignment, project.skeleton.spec(), qualification=qualifying)
    if score is None or staffing is None:
        return score
    if qualifying:
        decide_qualification(staffing, project)
    elif project.pause_gold_oks is not None:
        pause_if_below_floor(staffing, project, "gold_oks", rolling_gold_oks(staffing, project))
    return score


def decide_qualification(staffing: ProjectAnnotator, project: Project) -> None:
    scores = list(GoldScore.objects.filter(project=project, annotator_id=staffing.user_id, qualification=True)
                  .order_by("created_at", "id")[:project.qualification_images])
    if len(scores) < project.qualification_images:
        staffing.qualification_result = {"done": len(scores), "required": project.qualification_images}
        staffing.save(update_fields=["qualification_result"])
        return
    mean = float(np.mean([s.oks for s in scores]))
    passed = mean >= project.qualification_oks
    staffing.qualification = Qualification.PASSED if passed else Qualification.FAILED
    staffing.qualification_result = {
        "mean_oks": round(mean, 4), "threshold": project.qualification_oks, "images": len(scores),
        "passed": passed, "keypoints": keypoint_mistakes(scores),
    }
    staffing.save(update_fields=["qualification", "qualification_result"])


def keypoint_mistakes(scores: list[GoldScore]) -> list[dict]:
    """Per keypoint over these gold scores: mean OKS term, mean offset (dx, dy px), distance in sigmas, misses.

    Worst first, so the annotator reads the joint to fix at the top. dx > 0
    means they clicked right of the gold point, dy > 0 below it.
    """
    totals: dict[str, dict] = {}
    for score in scores:
        for kp in score.keypoints:
            t = totals.setdefault(kp["keypoint"], {"n": 0, "oks": 0.0, "dx": 0.0, "dy": 0.0, "dist": 0.0, "missed": 0})
            t["n"] += 1
            t["oks"] += kp["oks"]
            t["dx"] += kp["dx"]
            t["dy"] += kp["dy"]
            t["dist"] += kp["distance_sigmas"]
            t["missed"] += kp["missed"]
    rows = [
        {"keypoint": name, "oks": round(t["oks"] / t["n"], 4), "dx": round(t["dx"] / t["n"], 2),
         "dy": round(t["dy"] / t["n"], 2), "distance_sigmas": round(t["dist"] / t["n"], 3), "missed": t["missed"],
         "direction": _direction(t["dx"] / t["n"], t["dy"] / t["n"])}
        for name, t in totals.items()
    ]
    return sorted(rows, key=lambda r: r["oks"])


def _direction(dx: float, dy: float) -> str:
    parts = []
    if abs(dy) >= 0.5:
        parts.append("below" if dy > 0 else "above")
    if abs(dx) >= 0.5:
        parts.append("right of" if dx > 0 else "left of")
    return (" and ".join(parts) + " the gold point") if parts else "on the gold point"


def _since(staffing: ProjectAnnotator) -> datetime | None:
    reason = staffing.paused_reason or {}
    resumed = reason.get("resumed_at") if staffing.paused_at is None else None
    return datetime.fromisoformat(resumed) if resumed else None


def rolling_gold_oks(staffing: ProjectAnnotator, project: Project) -> tuple[float | None, int]:
    scores = GoldScore.objects.filter(project=project, annotator_id=staffing.user_id, qualification=False)
    if since := _since(staffing):
        scores = scores.filter(created_at__gt=since)
    values = list(scores.order_by("-created_at", "-id").values_list("oks", flat=True)[:project.pause_window])
    return (float(np.mean(values)) if values else None), len(values)


def rolling_loo_oks(project: Project, annotator_ids) -> dict[int, tuple[float | None, int]]:
    """Per annotator: mean OKS against the others' consensus over their last `pause_window` scored images.

    Two indexed queries per annotator; called once per scoring batch, for the
    annotators in it, and only on projects that set the floor.
    """
    staffing = {s.user_id: s for s in ProjectAnnotator.objects.filter(project=project, user_id__in=annotator_ids)}
    out = {}
    for user_id, s in staffing.items():
        submitted = Assignment.objects.filter(project=project, annotator_id=user_id, state=Assignment.State.SUBMITTED,
                                              image__is_gold=False)
        if since := _since(s):
            submitted = submitted.filter(submitted_at__gt=since)
        images = list(submitted.order_by("-submitted_at", "-id").values_list("image_id", flat=True)[:project.pause_window])
        scores = ConsensusResult.objects.filter(image_id__in=images).values_list("annotator_scores", flat=True)
        values = [sc["per_annotator"][str(user_id)]["oks"] for sc in scores if str(user_id) in sc.get("per_annotator", {})]
        out[user_id] = ((float(np.mean(values)) if values else None), len(values))
    return out


def pause_if_below_floor(staffing: ProjectAnnotator, project: Project, metric: str,
                         rolling: tuple[float | None, int], *, now: datetime | None = None) -> bool:
    value, n = rolling
    floor = project.pause_gold_oks if metric == "gold_oks" else project.pause_loo_oks
    if staffing.paused_at is not None or value is None or floor is None:
        return False
    if n < min(project.pause_window, MIN_SCORED_TO_PAUSE) or value >= floor:
        return False
    now = now or timezone.now()
    label = "gold OKS" if metric == "gold_oks" else "leave-one-out OKS"
    staffing.paused_at = now
    staffing.paused_reason = {
        "metric": metric, "value": round(value, 4), "floor": floor, "images": n, "window": project.pause_window,
        "paused_at": now.isoformat(),
        "message": f"Paused automatically: rolling {label} {value:.3f} over your last {n} images is below "
                   f"the project's floor {floor:.2f}. Your vendor manager can re-enable you.",
    }
    staffing.save(update_fields=["paused_at", "paused_reason"])
    return True


def pause_annotators_below_loo_floor(project: Project, annotator_ids) -> list[int]:
    """After a scoring batch: pause whoever's rolling leave-one-out OKS fell below the project's floor."""
    if project.pause_loo_oks is None:
        return []
    paused = []
    rolling = rolling_loo_oks(project, annotator_ids)
    for s in ProjectAnnotator.objects.select_for_update().filter(
        project=project, user_id__in=list(rolling), paused_at__isnull=True
    ):
        if pause_if_below_floor(s, project, "loo_oks", rolling[s.user_id]):
            paused.append(s.user_id)
    return paused
