"""Propose per-keypoint sigmas learned from a project's redundant labels.

The COCO way: the spread of annotators around each other, normalized by
object scale (`review.agreement.estimate_sigmas`). The proposal is a new
version of the project's skeleton; the project itself keeps its skeleton
until someone chooses to start a project on the new one, so no score
changes meaning behind anybody's back.
"""

from __future__ import annotations

import math
from typing import Callable

from django.db import transaction

from jointly.domain_errors import Invalid

from annotation.models import Project, Skeleton
from annotation.services.skeletons import create_skeleton, definition_of

from .scoring import score_project

#: Annotator pairs a keypoint needs before its learned sigma replaces the configured one.
MIN_PAIRS = 50


@transaction.atomic
def propose_sigmas(
    project: Project, *, min_pairs: int = MIN_PAIRS, progress: Callable | None = None,
) -> tuple[Skeleton, list[str]]:
    """Score the project, then write its learned sigmas into a new skeleton version.

    Returns the new skeleton and one line per keypoint saying what changed.
    Raises Invalid when no keypoint has enough redundant labels. It re-scores
    the whole project: run it as a job (`review.jobs.propose_sigmas`).
    """
    report = score_project(project, progress=progress).report
    keypoints = report.get("keypoints") or {}
    learned = keypoints.get("learned_sigma") or []
    counts = keypoints.get("learned_count") or []
    definition = definition_of(project.skeleton)
    changes = []
    for kp, sigma, count in zip(definition["keypoints"], learned, counts):
        if sigma is None or not math.isfinite(sigma) or sigma <= 0 or count < min_pairs:
            changes.append(f"{kp['name']}: kept {kp['sigma']:.4f} ({count} annotator pairs, need {min_pairs})")
            continue
        changes.append(f"{kp['name']}: {kp['sigma']:.4f} -> {sigma:.4f} (from {count} annotator pairs)")
        kp["sigma"] = round(float(sigma), 5)
    if all("kept" in line for line in changes):
        raise Invalid(
            f"No keypoint of project '{project}' has {min_pairs} redundant annotator pairs yet; "
            "score more images before estimating sigmas."
        )
    definition["description"] = (
        f"Sigmas learned from project '{project.name}' (id {project.pk}).\n" + "\n".join(changes)
    )
    return create_skeleton(definition, previous=project.skeleton), changes
