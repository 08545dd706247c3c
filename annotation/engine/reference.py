"""The engine's statements written with the ORM: the readable reference, and what SQLite runs.

Each function here has a twin in `postgres.py` that does the same in fewer
round trips; the engine tests run both on the same cases. The rules
(candidates, slots, states) come from `rules.py` and the status changes
from the state machine.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timezone as dt_timezone

from django.db.models import Count, IntegerField, Min, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..models import Annotation, Assignment, Image, Project
from ..services import image_status
from ..services.active_time import ACTIVE_TIME_FIELDS
from . import rules
from .paths import lock

State = Assignment.State
#: The image fields a lease needs (the task payload reads file and size).
CANDIDATE_FIELDS = ("id", "file", "width", "height", "status", "next_lease_expiry", "extra_replicas")
SUBMISSION_FIELDS = ("state", "submitted_at", "annotation", "instance_count", "submission_digest", *ACTIVE_TIME_FIELDS)


def recount_images(images: QuerySet[Image]) -> int:
    """Recompute the engine's counters of these (locked) images from their assignments, in one UPDATE."""
    holding = Assignment.objects.filter(image_id=OuterRef("pk"), state__in=rules.HOLDS_A_SLOT)

    def count(queryset) -> Coalesce:
        counted = queryset.order_by().values("image_id").annotate(n=Count("pk")).values("n")
        return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))

    earliest_expiry = (
        Assignment.objects.filter(image_id=OuterRef("pk"), state=State.LEASED)
        .order_by().values("image_id").annotate(first=Min("lease_expires_at")).values("first")
    )
    return images.update(
        slots_taken=count(holding),
        submitted_count=count(holding.filter(state=State.SUBMITTED)),
        next_lease_expiry=Subquery(earliest_expiry),
    )


def recount_one(image_id: int, *, start: bool = False) -> tuple[int, int, str]:
    """Recount one (locked) image; returns (slots_taken, submitted_count, status).

    start: the image was just leased, so a new image starts annotation.
    """
    recount_images(Image.objects.filter(pk=image_id))
    if start:
        image_status.start_annotation([image_id])
    return Image.objects.filter(pk=image_id).values_list("slots_taken", "submitted_count", "status").get()


def select_candidate(user, project: Project, now: datetime, *, gold: bool) -> Image | None:
    """Lock and return the best image for this annotator (only the fields the task needs)."""
    row = lock(rules.candidates(user, project, now, gold=gold), skip_locked=True).values_list(*CANDIDATE_FIELDS).first()
    return candidate_image(row, project, gold)


def candidate_image(row, project: Project, gold: bool) -> Image | None:
    if row is None:
        return None
    image = Image(project_id=project.pk, is_gold=gold, **dict(zip(CANDIDATE_FIELDS, row)))
    expiry = image.next_lease_expiry
    if isinstance(expiry, str):  # SQLite hands raw timestamps back as text, in UTC
        expiry = Image._meta.get_field("next_lease_expiry").to_python(expiry)
    if expiry is not None and timezone.is_naive(expiry):
        expiry = timezone.make_aware(expiry, dt_timezone.utc)
    image.next_lease_expiry = expiry
    return image


def lock_image_and_assignment(assignment_id: int) -> tuple[Image, Assignment]:
    """Lock the assignment's image, then the assignment (the engine's lock order)."""
    image_id = Assignment.objects.filter(pk=assignment_id).values_list("image_id", flat=True).first()
    if image_id is None:
        raise Assignment.DoesNotExist(f"assignment {assignment_id} no longer exists")
    image = lock(Image.objects.filter(pk=image_id)).only("id", "is_gold", "status", "slots_taken", "extra_replicas").get()
    return image, lock(Assignment.objects.filter(pk=assignment_id)).get()


def store_submission(locked: Assignment, image: Image, instances: list[dict], now: datetime) -> tuple[int, str]:
    """Under the locks: store the annotation, save the submitted assignment, recount.
    Returns the image's (submitted_count, status)."""
    locked.annotation = Annotation.objects.create(
        image_id=image.pk, source=Annotation.Source.ANNOTATOR, annotator_id=locked.annotator_id, instances=instances,
    )
    locked.save(update_fields=list(SUBMISSION_FIELDS))
    _, submitted, status = recount_one(image.pk)
    return submitted, status


def lease_in_one_statement(user, project: Project, vendor_id, now: datetime) -> None:
    """PostgreSQL's shortcut; the reference always takes the general path."""
    return None


def submit_in_one_statement(read: Assignment, submitted: Assignment, instances: list[dict]) -> None:
    """PostgreSQL's shortcut; the reference always takes the general path."""
    return None
