"""The assignment engine: next task, draft, heartbeat, submit, release, lease expiry.

Hundreds of annotators ask for work at once, so every step is one short
transaction and candidate selection is one indexed query:

- Each Image carries counters (`slots_taken` = open leases + submissions,
  `submitted_count`, `next_lease_expiry`) kept under the image's row lock on
  every change: recomputed from its Assignment rows (the truth), except the
  one-statement lease and submit, which apply their one change as a delta
  (and leave `next_lease_expiry` as a lower bound until the next recount).
- `next_task` picks the image closest to completion (most slots taken), then
  the highest `Image.priority`, then import order, with
  ``SELECT ... FOR UPDATE SKIP LOCKED``: concurrent callers never wait on the
  same row, they take the next one. The replica limit is checked on the row
  they hold locked, so it can never be exceeded.
- Expired leases are reclaimed lazily: an image whose earliest open lease is
  past its expiry still matches the selection; whoever locks it first marks
  its overdue leases expired and recounts before deciding. A periodic
  `expire_overdue_leases` does the same in bulk so statistics stay current.
- The database itself refuses the same annotator twice on an image and two
  open leases of one annotator in one project (constraints on Assignment).
- On PostgreSQL the common lease and the common submit (an open lease, not
  the image's last replica) each run as one statement outside any
  transaction, and the last replica's writes as one statement under its
  locks, written out (`_one_statement_paths`). On SQLite (the
  embedded default) there are no row locks, but every transaction starts
  IMMEDIATE (see settings), so writers run one at a time and the portable
  paths are correct there; the tests run both paths on PostgreSQL.

Lock order is always image, then assignment, so no two transactions deadlock.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import time
from contextlib import nullcontext
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from functools import lru_cache
from typing import Any, Callable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, IntegerField, Min, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from jointly.api_errors import Conflict
from jointly.jobs.services import enqueue

from ..models import Annotation, Assignment, Image, Project, Skeleton, SkeletonSpec
from ..prepared import columns, fetch_one
from .active_time import ACTIVE_TIME_FIELDS, credit_active_time
from .instances import validate_instances

State = Assignment.State
IN_ANNOTATION = (Image.Status.NEW, Image.Status.ANNOTATING)
OPEN_OR_DONE = (State.LEASED, State.SUBMITTED)
#: How many candidates one `next_task` may inspect and find full after
#: reclaiming their overdue leases before it gives up for this call.
SELECTION_ATTEMPTS = 8
#: A draft is work in progress, not a label: it is stored as given, within reason.
MAX_DRAFT_BYTES = 1_000_000


class LeaseConflict(Conflict):
    """409 with a sentence saying why this assignment cannot take the request."""


# --- counters -----------------------------------------------------------------


def recount_images(images: QuerySet[Image]) -> int:
    """Recompute the engine's counters of these (locked) images from their assignments, in one UPDATE."""
    open_or_done = Assignment.objects.filter(image_id=OuterRef("pk"), state__in=OPEN_OR_DONE)

    def count(queryset) -> Coalesce:
        counted = queryset.order_by().values("image_id").annotate(n=Count("pk")).values("n")
        return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))

    earliest_expiry = (
        Assignment.objects.filter(image_id=OuterRef("pk"), state=State.LEASED)
        .order_by().values("image_id").annotate(first=Min("lease_expires_at")).values("first")
    )
    return images.update(
        slots_taken=count(open_or_done),
        submitted_count=count(open_or_done.filter(state=State.SUBMITTED)),
        next_lease_expiry=Subquery(earliest_expiry),
    )


#: The same recount for one image, as one statement that also returns the result: the
#: hot path (every lease, submit and release) pays one round trip and no ORM compilation.
_RECOUNT_ONE_SQL = """
    UPDATE annotation_image SET
        slots_taken = (SELECT COUNT(*) FROM annotation_assignment
                       WHERE image_id = %(image)s AND state IN ('leased', 'submitted')),
        submitted_count = (SELECT COUNT(*) FROM annotation_assignment
                           WHERE image_id = %(image)s AND state = 'submitted'),
        next_lease_expiry = (SELECT MIN(lease_expires_at) FROM annotation_assignment
                             WHERE image_id = %(image)s AND state = 'leased'),
        status = CASE WHEN status = 'new' THEN %(started)s ELSE status END
    WHERE id = %(image)s
    RETURNING slots_taken, submitted_count, status
"""


def recount_image(image_id: int, *, mark_started: bool = False) -> tuple[int, int, str]:
    """Recount one (locked) image; returns (slots_taken, submitted_count, status).

    mark_started moves a NEW image to ANNOTATING in the same statement.
    """
    with connection.cursor() as cursor:
        cursor.execute(_RECOUNT_ONE_SQL, {
            "image": image_id, "started": Image.Status.ANNOTATING if mark_started else Image.Status.NEW,
        })
        return cursor.fetchone()


def _expire_overdue_of(image_ids, now: datetime) -> int:
    """Mark the overdue open leases of these (locked) images expired and recount them."""
    expired = Assignment.objects.filter(
        image_id__in=image_ids, state=State.LEASED, lease_expires_at__lte=now
    ).update(state=State.EXPIRED)
    recount_images(Image.objects.filter(pk__in=image_ids))
    return expired


def expire_overdue_leases(*, now: datetime | None = None, batch_size: int = 1000) -> int:
    """Reclaim every overdue lease (periodic housekeeping; selection also reclaims lazily).

    Images another transaction holds are skipped: that transaction reclaims
    them itself or the next run does. Returns the number of leases expired.
    """
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            image_ids = list(
                _lock(Image.objects.filter(next_lease_expiry__lte=now).order_by("pk"), skip_locked=True)
                .values_list("pk", flat=True)[:batch_size]
            )
            if not image_ids:
                return total
            total += _expire_overdue_of(image_ids, now)
        if len(image_ids) < batch_size:
            return total


def _for_update(sql: str) -> str:
    return sql + " FOR UPDATE" if connection.features.has_select_for_update else sql


_LOCK_IMAGE_AND_ASSIGNMENT_SQL = (
    "SELECT {assignment_columns}, i.is_gold AS image_is_gold, i.status AS image_status, i.slots_taken AS image_slots_taken "
    "FROM annotation_image i JOIN annotation_assignment a ON a.image_id = i.id WHERE a.id = %s"
)


@lru_cache(maxsize=1)
def _lock_image_and_assignment_sql() -> str:
    return _for_update(_LOCK_IMAGE_AND_ASSIGNMENT_SQL.format(assignment_columns=columns(Assignment, "a")))


def _lock_image_and_assignment(assignment_id: int) -> tuple[Image, Assignment]:
    """Both row locks in one statement. PostgreSQL takes them in the order of the FROM
    list, image first, the same order as every other path of the engine."""
    locked = fetch_one(Assignment, _lock_image_and_assignment_sql(), [assignment_id],
                       extra=("image_is_gold", "image_status", "image_slots_taken"))
    if locked is None:
        raise Assignment.DoesNotExist(f"assignment {assignment_id} no longer exists")
    image = Image(pk=locked.image_id, is_gold=bool(locked.image_is_gold), status=locked.image_status,
                  slots_taken=locked.image_slots_taken)
    return image, locked


def _lock(queryset: QuerySet, *, skip_locked: bool = False) -> QuerySet:
    """select_for_update where the backend has it; SKIP LOCKED where supported.

    SQLite has neither; there, IMMEDIATE transactions serialize the writers.
    """
    if not connection.features.has_select_for_update:
        return queryset
    skip = skip_locked and connection.features.has_select_for_update_skip_locked
    return queryset.select_for_update(skip_locked=skip)


# --- skeletons, cached per process ---------------------------------------------------

#: Seconds a skeleton's spec stays cached in a process. The key includes the
#: skeleton's updated_at (every service and admin edit saves the skeleton), and
#: a used skeleton is frozen anyway; the TTL bounds any edit that bypasses both.
SKELETON_CACHE_SECONDS = 60
_skeleton_cache: dict[tuple, tuple[float, Any]] = {}


def cached_for_skeleton(skeleton_id: int, updated_at, kind: str, build: Callable[[], Any]):
    """build(), memoized per (skeleton, version of its row) for a short while."""
    key = (kind, skeleton_id, updated_at)
    hit = _skeleton_cache.get(key)
    clock = time.monotonic()
    if hit is not None and clock - hit[0] < SKELETON_CACHE_SECONDS:
        return hit[1]
    value = build()
    if len(_skeleton_cache) > 256:
        _skeleton_cache.clear()
    _skeleton_cache[key] = (clock, value)
    return value


def skeleton_spec(skeleton_id: int, updated_at) -> SkeletonSpec:
    return cached_for_skeleton(skeleton_id, updated_at, "spec", lambda: Skeleton.objects.get(pk=skeleton_id).spec())


# --- next task ----------------------------------------------------------------


def open_lease(user, project: Project) -> Assignment | None:
    return (
        Assignment.objects.select_related("image")
        .filter(project=project, annotator=user, state=State.LEASED)
        .first()
    )


def next_task(
    user, project: Project, *, vendor_id: int | None, now: datetime | None = None,
    rng: Callable[[], float] = random.random, may_hold_lease: bool = True,
) -> tuple[Assignment | None, bool]:
    """Lease the caller one image that still needs replicas and that they never had.

    Returns (assignment, created). Asking again while holding a lease returns
    that lease (renewed if it ran out and nobody reclaimed its slot), so a
    reload never burns a task. (None, False) when nothing is left for them.
    Gold images are mixed in at the project's gold rate, through the same
    code path and the same response, and only while real work remains.
    may_hold_lease=False lets a caller that already knows there is no open
    lease (it asked in its access query) skip looking for one.
    """
    now = now or timezone.now()
    held = open_lease(user, project) if may_hold_lease else None
    if held is not None:
        if held.lease_expires_at > now:
            return held, False
        renewed = _renew_lease(held, project, now)
        if renewed is not None:
            return renewed, False

    pools = [False]
    if project.gold_rate > 0 and rng() < project.gold_rate and _has_candidate(user, project, now, gold=False):
        pools = [True, False]
    for gold in pools:
        for _ in range(3):
            try:
                assignment = None if gold else _lease_in_one_statement(user, project, vendor_id, now)
                if assignment is None:
                    assignment = _lease_from_pool(user, project, vendor_id, gold=gold, now=now)
            except IntegrityError:
                # A concurrent `next` of the same annotator won the one-open-lease
                # constraint: answer with that lease instead of a second one.
                held = open_lease(user, project)
                if held is not None:
                    return held, False
                continue
            if assignment is not None:
                return assignment, True
            break
    return None, False


#: Candidate selection for real work, the engine's hottest statement, written out so it
#: costs one round trip and no ORM compilation. Served by the partial index
#: image_task_queue (project, is_gold, slots_taken DESC, priority DESC, id).
_SELECT_CANDIDATE_SQL = """
    SELECT i.id, i.file, i.width, i.height, i.status, i.next_lease_expiry FROM annotation_image i
    WHERE i.project_id = %(project)s AND i.is_gold = %(gold)s AND i.status IN ('new', 'annotating')
      AND (i.slots_taken < %(replicas)s OR i.next_lease_expiry <= %(now)s)
      AND NOT EXISTS (SELECT 1 FROM annotation_assignment a WHERE a.image_id = i.id AND a.annotator_id = %(user)s)
    ORDER BY i.slots_taken DESC, i.priority DESC, i.id
    LIMIT 1
"""


_CANDIDATE_FIELDS = ("id", "file", "width", "height", "status", "next_lease_expiry")


def _select_candidate(user, project: Project, now: datetime, *, gold: bool) -> Image | None:
    """Lock and return the best image for this annotator (only the fields the task needs)."""
    if gold:
        row = _lock(_candidates(user, project, now, gold=True), skip_locked=True).values_list(*_CANDIDATE_FIELDS).first()
    else:
        sql = _SELECT_CANDIDATE_SQL
        if connection.features.has_select_for_update:
            sql += " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else " FOR UPDATE"
        with connection.cursor() as cursor:
            cursor.execute(sql, {
                "project": project.pk, "gold": False, "replicas": project.replicas, "user": user.pk,
                "now": connection.ops.adapt_datetimefield_value(now),
            })
            row = cursor.fetchone()
    if row is None:
        return None
    image = Image(project_id=project.pk, is_gold=gold, **dict(zip(_CANDIDATE_FIELDS, row)))
    expiry = image.next_lease_expiry
    if isinstance(expiry, str):  # SQLite hands raw-SQL timestamps back as text, in UTC
        expiry = Image._meta.get_field("next_lease_expiry").to_python(expiry)
    if expiry is not None and timezone.is_naive(expiry):
        expiry = timezone.make_aware(expiry, dt_timezone.utc)
    image.next_lease_expiry = expiry
    return image


#: The common case on PostgreSQL as one statement in its own transaction: pick and
#: lock the best image (SKIP LOCKED), insert the lease and bump the image's counters.
#: It leases only an image with a free slot; when the best candidate first needs an
#: overdue lease reclaimed (or nothing is free) it leases nothing and the general
#: path, `_lease_from_pool`, takes over. Every column without a default is listed:
#: a new NOT NULL field on Assignment must be added here (the tests would fail).
_LEASE_ONE_STATEMENT_SQL = """
    WITH candidate AS (
        SELECT i.id, i.slots_taken FROM annotation_image i
        WHERE i.project_id = %(project)s AND NOT i.is_gold AND i.status IN ('new', 'annotating')
          AND (i.slots_taken < %(replicas)s OR i.next_lease_expiry <= %(now)s)
          AND NOT EXISTS (SELECT 1 FROM annotation_assignment a WHERE a.image_id = i.id AND a.annotator_id = %(user)s)
        ORDER BY i.slots_taken DESC, i.priority DESC, i.id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    ), leased AS (
        INSERT INTO annotation_assignment (
            project_id, image_id, annotator_id, vendor_id, state, leased_at, lease_expires_at, last_activity_at,
            instructions_version, active_ms, client_active_ms, observed_ms, instance_count, submission_digest
        )
        SELECT %(project)s, candidate.id, %(user)s, %(vendor)s, 'leased', %(now)s, %(expires)s, %(now)s,
               %(instructions_version)s, 0, 0, 0, 0, ''
        FROM candidate WHERE candidate.slots_taken < %(replicas)s
        RETURNING id, image_id
    ), counted AS (
        UPDATE annotation_image i SET
            slots_taken = i.slots_taken + 1,
            next_lease_expiry = LEAST(i.next_lease_expiry, %(expires)s),
            status = CASE WHEN i.status = 'new' THEN 'annotating' ELSE i.status END
        FROM leased WHERE i.id = leased.image_id
        RETURNING i.id, i.file, i.width, i.height
    )
    SELECT leased.id, counted.id, counted.file, counted.width, counted.height
    FROM leased JOIN counted ON counted.id = leased.image_id
"""


def _lease_in_one_statement(user, project: Project, vendor_id, now: datetime) -> Assignment | None:
    """The PostgreSQL fast path of `_lease_from_pool` (None: let the general path decide)."""
    if not _one_statement_paths():
        return None
    expires = now + timedelta(seconds=project.lease_seconds)
    instructions_version = _instructions_version(project)
    params = {
        "project": project.pk, "replicas": project.replicas, "user": user.pk, "vendor": vendor_id, "now": now,
        "expires": expires, "instructions_version": instructions_version,
    }
    with _statement_of_its_own():
        with connection.cursor() as cursor:
            cursor.execute(_LEASE_ONE_STATEMENT_SQL, params)
            row = cursor.fetchone()
    if row is None:
        return None
    assignment_id, image_id, file, width, height = row
    image = Image(pk=image_id, project_id=project.pk, file=file, width=width, height=height, is_gold=False)
    return Assignment(
        pk=assignment_id, project=project, image=image, annotator=user, vendor_id=vendor_id, state=State.LEASED,
        leased_at=now, lease_expires_at=expires, last_activity_at=now, instructions_version=instructions_version,
    )


def _candidates(user, project: Project, now: datetime, *, gold: bool) -> QuerySet[Image]:
    images = Image.objects.filter(project=project, is_gold=gold, status__in=IN_ANNOTATION).exclude(
        Exists(Assignment.objects.filter(image_id=OuterRef("pk"), annotator=user))
    )
    if gold:
        # Gold images check every annotator, so they are not capped by replicas;
        # the least-used ones go first to spread the checks.
        return images.order_by("slots_taken", "id")
    return images.filter(Q(slots_taken__lt=project.replicas) | Q(next_lease_expiry__lte=now)).order_by(
        "-slots_taken", "-priority", "id"
    )


def _has_candidate(user, project: Project, now: datetime, *, gold: bool) -> bool:
    return _candidates(user, project, now, gold=gold).exists()


def _lease_from_pool(user, project: Project, vendor_id, *, gold: bool, now: datetime) -> Assignment | None:
    with transaction.atomic():
        for _ in range(SELECTION_ATTEMPTS):
            image = _select_candidate(user, project, now, gold=gold)
            if image is None:
                return None
            if image.next_lease_expiry is not None and image.next_lease_expiry <= now:
                Assignment.objects.filter(
                    image_id=image.pk, state=State.LEASED, lease_expires_at__lte=now
                ).update(state=State.EXPIRED)
                taken, _, _ = recount_image(image.pk)
                if not gold and taken >= project.replicas:
                    continue  # every slot is really taken; it no longer matches the selection
            assignment = Assignment.objects.create(
                project=project, image=image, annotator=user, vendor_id=vendor_id, state=State.LEASED,
                leased_at=now, lease_expires_at=now + timedelta(seconds=project.lease_seconds),
                last_activity_at=now, instructions_version=_instructions_version(project),
            )
            recount_image(image.pk, mark_started=True)
            return assignment
        return None


def _instructions_version(project: Project) -> int | None:
    if not project.instructions_id:
        return None
    # task_context() brings the version along; otherwise read it from the instructions.
    return getattr(project, "current_instructions_version", None) or project.instructions.version


def _renew_lease(held: Assignment, project: Project, now: datetime) -> Assignment | None:
    """Give an annotator back their own ran-out lease if nobody reclaimed its slot meanwhile."""
    with transaction.atomic():
        _lock(Image.objects.filter(pk=held.image_id)).get()
        assignment = _lock(Assignment.objects.select_related("image").filter(pk=held.pk)).get()
        if assignment.state != State.LEASED:
            return None
        assignment.lease_expires_at = now + timedelta(seconds=project.lease_seconds)
        assignment.save(update_fields=["lease_expires_at"])
        recount_image(assignment.image_id)
        return assignment


# --- draft, heartbeat, release --------------------------------------------------


def _locked_assignment(assignment: Assignment) -> Assignment:
    _lock(Image.objects.filter(pk=assignment.image_id)).get()
    return _lock(Assignment.objects.select_related("image", "project").filter(pk=assignment.pk)).get()


def _refuse_unless_open(assignment: Assignment, action: str) -> None:
    if assignment.state == State.LEASED:
        return
    reasons = {
        State.SUBMITTED: "it was already submitted",
        State.RELEASED: "you released it",
        State.EXPIRED: f"its lease expired at {assignment.lease_expires_at.isoformat()}",
        State.REJECTED: "it was rejected in review",
    }
    raise LeaseConflict(f"Cannot {action} assignment {assignment.pk}: {reasons[assignment.state]}.")


def save_draft(
    assignment: Assignment, draft: Any, *, client_active_ms: int | None = None, now: datetime | None = None
) -> Assignment:
    """Store work in progress (any JSON, unvalidated) and count the save as activity."""
    now = now or timezone.now()
    if len(json.dumps(draft, separators=(",", ":"))) > MAX_DRAFT_BYTES:
        raise ValidationError({"draft": [f"A draft may be at most {MAX_DRAFT_BYTES} bytes of JSON."]})
    with transaction.atomic():
        locked = _locked_assignment(assignment)
        _refuse_unless_open(locked, "save a draft of")
        locked.draft = draft
        locked.draft_saved_at = now
        credit_active_time(locked, client_active_ms, now, locked.project.idle_limit_seconds)
        locked.save(update_fields=["draft", "draft_saved_at", *ACTIVE_TIME_FIELDS])
        return locked


def heartbeat(assignment: Assignment, *, client_active_ms: int | None = None, now: datetime | None = None) -> Assignment:
    """The annotator is still working: keeps active time creditable past the idle limit."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked_assignment(assignment)
        _refuse_unless_open(locked, "record activity on")
        credit_active_time(locked, client_active_ms, now, locked.project.idle_limit_seconds)
        locked.save(update_fields=ACTIVE_TIME_FIELDS)
        return locked


def release_assignment(
    assignment: Assignment, *, client_active_ms: int | None = None, now: datetime | None = None
) -> Assignment:
    """Give the image back: its slot goes to someone else, never again to this annotator.

    Releasing twice, or releasing a lease that already expired, is answered
    with the released assignment: the caller's intent is met either way.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked_assignment(assignment)
        if locked.state == State.RELEASED:
            return locked
        if locked.state not in (State.LEASED, State.EXPIRED):
            _refuse_unless_open(locked, "release")
        if locked.state == State.LEASED:
            credit_active_time(locked, client_active_ms, now, locked.project.idle_limit_seconds)
        locked.state = State.RELEASED
        locked.released_at = now
        locked.save(update_fields=["state", "released_at", *ACTIVE_TIME_FIELDS])
        recount_image(locked.image_id)
        return locked


# --- submit -------------------------------------------------------------------


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
    if assignment.state == State.LEASED and _one_statement_paths():
        submitted = _submit_in_one_statement(assignment, validated, digest, client_active_ms, now)
        if submitted is not None:
            return submitted, True

    with transaction.atomic():
        image, locked = _lock_image_and_assignment(assignment.pk)
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
            slot_free = image.status in IN_ANNOTATION and (image.is_gold or image.slots_taken < project.replicas)
            if not slot_free:
                raise LeaseConflict(
                    f"Your lease on this image expired at {locked.lease_expires_at.isoformat()} and the image "
                    "was given to another annotator; these labels were not stored. Ask for the next task."
                )
        elif locked.state != State.LEASED:
            _refuse_unless_open(locked, "submit")

        credit_active_time(locked, client_active_ms, now, project.idle_limit_seconds)
        locked.state = State.SUBMITTED
        locked.submitted_at = now
        locked.instance_count = len(validated)
        locked.submission_digest = digest
        if _one_statement_paths():
            submitted, status = _store_submission_in_one_statement(locked, validated, now)
        else:
            locked.annotation = Annotation.objects.create(
                image=image, source=Annotation.Source.ANNOTATOR, annotator_id=locked.annotator_id,
                instances=validated,
            )
            locked.save(update_fields=[
                "state", "submitted_at", "annotation", "instance_count", "submission_digest", *ACTIVE_TIME_FIELDS,
            ])
            _, submitted, status = recount_image(image.pk)
        if not image.is_gold and status in IN_ANNOTATION and submitted >= project.replicas:
            _start_scoring(image)
        return locked, True


#: Submit's writes on PostgreSQL as one statement (the row locks are already held):
#: store the annotation, mark the assignment submitted, recount the image. The
#: counts exclude this assignment's old row (the statement reads one snapshot) and
#: add its new state, so they equal what `recount_image` would find afterwards.
_STORE_SUBMISSION_SQL = """
    WITH stored AS (
        INSERT INTO annotation_annotation (image_id, source, annotator_id, instances, version, created_at, updated_at)
        VALUES (%(image)s, 'annotator', %(annotator)s, %(instances)s::jsonb, 1, %(now)s, %(now)s)
        RETURNING id
    ), marked AS (
        UPDATE annotation_assignment SET
            state = 'submitted', submitted_at = %(now)s, annotation_id = (SELECT id FROM stored),
            instance_count = %(instance_count)s, submission_digest = %(digest)s, active_ms = %(active_ms)s,
            client_active_ms = %(client_active_ms)s, observed_ms = %(observed_ms)s,
            last_activity_at = %(last_activity_at)s
        WHERE id = %(assignment)s
        RETURNING id
    )
    UPDATE annotation_image SET
        slots_taken = 1 + (SELECT COUNT(*) FROM annotation_assignment
                           WHERE image_id = %(image)s AND state IN ('leased', 'submitted') AND id <> %(assignment)s),
        submitted_count = 1 + (SELECT COUNT(*) FROM annotation_assignment
                               WHERE image_id = %(image)s AND state = 'submitted' AND id <> %(assignment)s),
        next_lease_expiry = (SELECT MIN(lease_expires_at) FROM annotation_assignment
                             WHERE image_id = %(image)s AND state = 'leased' AND id <> %(assignment)s)
    WHERE id = %(image)s AND EXISTS (SELECT 1 FROM marked)
    RETURNING submitted_count, status, (SELECT id FROM stored)
"""


#: The common submit on PostgreSQL as one statement, no transaction around it: a lease
#: that is still open, on an image this submit does not complete (the last replica
#: also starts scoring, which the general path does in its transaction). It runs on
#: what the caller read, unlocked, and checks that under the locks:
#: - `guard` locks the image first (the engine's lock order) and holds only while
#:   this is not the image's last replica;
#: - `marked` moves the assignment to submitted only if it is still the open lease
#:   the active time was computed from (state and active-time fields unchanged);
#: - the annotation and the image's count follow `marked`, so all or nothing happens.
#: Counters change by deltas, which READ COMMITTED applies to the latest row version:
#: a lease that becomes a submission keeps its slot, so only submitted_count moves.
#: next_lease_expiry is left as it was: a lower bound, made exact by the next recount.
_SUBMIT_ONE_STATEMENT_SQL = """
    WITH guard AS (
        SELECT i.id FROM annotation_image i
        WHERE i.id = %(image)s
          AND (i.is_gold OR i.status NOT IN ('new', 'annotating') OR i.submitted_count + 1 < %(replicas)s)
        FOR UPDATE
    ), new_annotation AS (
        SELECT nextval(pg_get_serial_sequence('annotation_annotation', 'id')) AS id
    ), marked AS (
        UPDATE annotation_assignment a SET
            state = 'submitted', submitted_at = %(now)s, annotation_id = (SELECT id FROM new_annotation),
            instance_count = %(instance_count)s, submission_digest = %(digest)s, active_ms = %(active_ms)s,
            client_active_ms = %(client_active_ms)s, observed_ms = %(observed_ms)s,
            last_activity_at = %(last_activity_at)s
        WHERE a.id = %(assignment)s AND a.state = 'leased' AND EXISTS (SELECT 1 FROM guard)
          AND a.observed_ms = %(read_observed_ms)s AND a.client_active_ms = %(read_client_active_ms)s
          AND a.last_activity_at IS NOT DISTINCT FROM %(read_last_activity_at)s
        RETURNING a.annotation_id
    ), stored AS (
        INSERT INTO annotation_annotation (id, image_id, source, annotator_id, instances, version, created_at, updated_at)
        SELECT marked.annotation_id, %(image)s, 'annotator', %(annotator)s, %(instances)s::jsonb, 1, %(now)s, %(now)s
        FROM marked
        RETURNING id
    ), counted AS (
        UPDATE annotation_image SET submitted_count = submitted_count + 1
        WHERE id = %(image)s AND EXISTS (SELECT 1 FROM marked)
    )
    SELECT id FROM stored
"""


def _submit_in_one_statement(
    read: Assignment, instances: list[dict], digest: str, client_active_ms: int | None, now: datetime,
) -> Assignment | None:
    """The submitted assignment, or None when the general path must decide (see the SQL)."""
    submitted = copy.copy(read)
    credit_active_time(submitted, client_active_ms, now, read.project.idle_limit_seconds)
    submitted.state = State.SUBMITTED
    submitted.submitted_at = now
    submitted.instance_count = len(instances)
    submitted.submission_digest = digest
    with _statement_of_its_own():
        with connection.cursor() as cursor:
            cursor.execute(_SUBMIT_ONE_STATEMENT_SQL, {
                "image": read.image_id, "replicas": read.project.replicas, "assignment": read.pk,
                "annotator": read.annotator_id, "now": now, "instances": json.dumps(instances),
                "instance_count": submitted.instance_count, "digest": digest, "active_ms": submitted.active_ms,
                "client_active_ms": submitted.client_active_ms, "observed_ms": submitted.observed_ms,
                "last_activity_at": submitted.last_activity_at, "read_observed_ms": read.observed_ms,
                "read_client_active_ms": read.client_active_ms, "read_last_activity_at": read.last_activity_at,
            })
            row = cursor.fetchone()
    if row is None:
        return None
    submitted.annotation_id = row[0]
    return submitted


def _statement_of_its_own():
    """Outside a transaction a statement is its own; inside one, a savepoint keeps a
    constraint violation (a concurrent double click) from breaking the caller's."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def _one_statement_paths() -> bool:
    """PostgreSQL takes the engine's one-statement fast paths; other databases the portable ones."""
    return ONE_STATEMENT_PATHS and connection.vendor == "postgresql"


#: Tests switch this off to run the portable paths on PostgreSQL too.
ONE_STATEMENT_PATHS = True


def _store_submission_in_one_statement(locked: Assignment, instances: list[dict], now: datetime) -> tuple[int, str]:
    with connection.cursor() as cursor:
        cursor.execute(_STORE_SUBMISSION_SQL, {
            "image": locked.image_id, "annotator": locked.annotator_id, "assignment": locked.pk, "now": now,
            "instances": json.dumps(instances), "instance_count": locked.instance_count,
            "digest": locked.submission_digest, "active_ms": locked.active_ms,
            "client_active_ms": locked.client_active_ms, "observed_ms": locked.observed_ms,
            "last_activity_at": locked.last_activity_at,
        })
        submitted, status, annotation_id = cursor.fetchone()
    locked.annotation_id = annotation_id
    return submitted, status


def _start_scoring(image: Image) -> None:
    """The last replica is in: the image leaves annotation and its scoring job is queued, once."""
    Image.objects.filter(pk=image.pk).update(status=Image.Status.SCORING)
    enqueue("scoring", "review.jobs.score_image", description=f"Score image {image.pk}", image_id=image.pk)
