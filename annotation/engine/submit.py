"""Submit: validate, store once, and hand the image to scoring when it is the last replica."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from jointly.jobs.services import enqueue

from ..models import Assignment, Image, SkeletonSpec
from ..signals import gold_submitted
from ..services import image_status
from ..services.active_time import credit_active_time
from ..services.instances import validate_instances
from ..services.skeleton_cache import skeleton_spec
from . import rules
from .paths import statements
from .work import LeaseConflict, refuse_unless_open

State = Assignment.State


def submission_digest(instances: list[dict]) -> str:
    return hashlib.sha256(json.dumps(instances, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def submit_assignment(
    assignment: Assignment, instances: Any, *, client_active_ms: int | None = None,
    spec: SkeletonSpec | None = None, image_size: tuple[int, int] | None = None, now: datetime | None = None,
) -> tuple[Assignment, bool]:
    """Validate and store the annotator's labels; returns (assignment, created).

    Idempotent: a retried submit with the same instances returns the stored
    result (created=False) and never a second annotation; different instances
    after a submit are refused (409). A lease that expired is still accepted
    while its slot is free; once its slot went to someone else it is refused.
    When this is the image's last replica, the image moves to scoring and
    `review.jobs.score_image` is enqueued, in this same transaction, so it
    happens exactly once per image.
    """
    now = now or timezone.now()
    project = assignment.project
    if spec is None:
        spec = skeleton_spec(project.skeleton_id, project.skeleton.updated_at)
    width, height = image_size or (assignment.image.width, assignment.image.height)
    validated = validate_instances(instances, spec, width, height, max_instances=project.max_instances_per_image)
    digest = submission_digest(validated)
    paths = statements()
    if assignment.state == State.LEASED:
        submitted = _submitted(copy.copy(assignment), project, validated, digest, client_active_ms, now)
        stored = paths.submit_in_one_statement(assignment, submitted, validated)
        if stored is not None:
            return stored, True

    with transaction.atomic():
        image, locked = paths.lock_image_and_assignment(assignment.pk)
        if locked.state in (State.SUBMITTED, State.REJECTED) and locked.submission_digest:
            if locked.submission_digest == digest:
                return locked, False
            raise LeaseConflict(
                f"Assignment {locked.pk} was already submitted with different instances; "
                "a submitted annotation cannot be replaced."
            )
        if locked.state == State.RELEASED:
            raise LeaseConflict(f"Assignment {locked.pk} was released; it can no longer be submitted.")
        if locked.state == State.EXPIRED:
            slot_free = image.status in rules.IN_ANNOTATION and rules.has_free_slot(
                image.slots_taken, rules.replica_target(project, image), gold=image.is_gold)
            if not slot_free:
                raise LeaseConflict(
                    f"Your lease on this image expired at {locked.lease_expires_at.isoformat()} and the image "
                    "was given to another annotator; these labels were not stored. Ask for the next task."
                )
        elif locked.state != State.LEASED:
            refuse_unless_open(locked, "submit")

        _submitted(locked, project, validated, digest, client_active_ms, now)
        submitted, status = paths.store_submission(locked, image, validated, now)
        if not image.is_gold and status in rules.IN_ANNOTATION and rules.is_last_replica(
            submitted, rules.replica_target(project, image)
        ):
            _start_scoring(image)
        elif status == Image.Status.REWORK and not Assignment.objects.filter(
            image_id=image.pk, state__in=(State.REWORK, State.LEASED)
        ).exists():
            _rescore(image)
        if image.is_gold:
            # Scored against gold now, in this transaction: qualification and pausing are
            # decided before the annotator's next request (review/services/gold.py).
            gold_submitted.send(sender=Assignment, assignment=locked, project=project)
        return locked, True


def _submitted(submitted: Assignment, project, instances: list[dict], digest: str, client_active_ms: int | None,
               now: datetime) -> Assignment:
    """Make the assignment submitted (in memory): state, time, digest and the active time credited."""
    credit_active_time(submitted, client_active_ms, now, project.idle_limit_seconds)
    submitted.state = State.SUBMITTED
    submitted.submitted_at = now
    submitted.instance_count = len(instances)
    submitted.submission_digest = digest
    return submitted


def _start_scoring(image: Image) -> None:
    """The last replica is in: the image leaves annotation and its scoring job is queued, once."""
    image_status.start_scoring([image.pk])
    enqueue("scoring", "review.jobs.score_image", description=f"Score image {image.pk}", image_id=image.pk)


def _rescore(image: Image) -> None:
    """The last reworked labels are in: the image is scored again, once."""
    image_status.rescore([image.pk])
    enqueue("scoring", "review.jobs.score_image", description=f"Score image {image.pk} after rework",
            image_id=image.pk)
