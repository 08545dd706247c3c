"""The engine's statements on PostgreSQL: the reference's steps (`reference.py`) in fewer round trips.

Each function does what its twin in `reference.py` does, and the engine
tests run both on the same cases. The statements are built once per process
from the models' table names, the assignment states, the shared candidate
condition (`rules.candidate_sql`) and the state machine's SQL
(`image_status.sql_start_annotation`); they are constant strings, so
psycopg can keep them prepared per connection.

Two of them run outside any transaction, as one statement each (the common
lease and the common submit); see their comments for why that is safe.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import lru_cache

from django.db import connection

from ..models import Annotation, Assignment, Image, Project
from ..prepared import columns, fetch_one
from ..services import image_status
from . import rules
from .paths import statement_of_its_own
from .reference import CANDIDATE_FIELDS, candidate_image

State = Assignment.State


@lru_cache(maxsize=None)
def _names() -> dict[str, str]:
    return {
        "image": rules.table(Image), "assignment": rules.table(Assignment), "annotation": rules.table(Annotation),
        "leased": State.LEASED, "submitted": State.SUBMITTED, "rework": Image.Status.REWORK, "annotator_source": Annotation.Source.ANNOTATOR,
        "in_annotation": rules.in_annotation_sql("i"),
        "start_annotation": image_status.sql_start_annotation("i.status"),
        "candidates": rules.candidate_sql(gold=False),
        "holds_a_slot": rules.holds_a_slot_sql("state"),
        "candidate_has_free_slot": rules.free_slot_sql("candidate.slots_taken", "candidate.extra_replicas"),
        "not_last_replica": rules.not_last_replica_sql("i.submitted_count + 1", "i.extra_replicas"),
        "reassigned_comments": rules.reassigned_comments_sql("candidate.id"),
    }


@lru_cache(maxsize=None)
def _sql(template: str) -> str:
    return template.format(**_names())


#: The recount of one image as one statement that also returns the result: the
#: hot path (every lease, submit and release) pays one round trip and no ORM compilation.
_RECOUNT_ONE_SQL = """
    UPDATE {image} i SET
        slots_taken = (SELECT COUNT(*) FROM {assignment}
                       WHERE image_id = %(image)s AND {holds_a_slot}),
        submitted_count = (SELECT COUNT(*) FROM {assignment}
                           WHERE image_id = %(image)s AND state = '{submitted}'),
        next_lease_expiry = (SELECT MIN(lease_expires_at) FROM {assignment}
                             WHERE image_id = %(image)s AND state = '{leased}')
        {set_status}
    WHERE i.id = %(image)s
    RETURNING i.slots_taken, i.submitted_count, i.status
"""


def recount_one(image_id: int, *, start: bool = False) -> tuple[int, int, str]:
    set_status = ", status = {start_annotation}" if start else ""
    with connection.cursor() as cursor:
        cursor.execute(_sql(_RECOUNT_ONE_SQL.replace("{set_status}", set_status)), {"image": image_id})
        return cursor.fetchone()


def select_candidate(user, project: Project, now: datetime, *, gold: bool) -> Image | None:
    sql = (f"SELECT {', '.join('i.' + f for f in CANDIDATE_FIELDS)} {rules.candidate_sql(gold=gold)} "
           "LIMIT 1 FOR UPDATE SKIP LOCKED")
    with connection.cursor() as cursor:
        cursor.execute(sql, {"project": project.pk, "gold": gold, "replicas": project.replicas, "user": user.pk,
                             "now": now})
        return candidate_image(cursor.fetchone(), project, gold)


_LOCK_IMAGE_AND_ASSIGNMENT_SQL = (
    "SELECT {assignment_columns}, i.is_gold AS image_is_gold, i.status AS image_status, "
    "i.slots_taken AS image_slots_taken, i.extra_replicas AS image_extra_replicas "
    "FROM {image} i JOIN {assignment} a ON a.image_id = i.id WHERE a.id = %s FOR UPDATE"
)


@lru_cache(maxsize=1)
def _lock_image_and_assignment_sql() -> str:
    return _LOCK_IMAGE_AND_ASSIGNMENT_SQL.format(assignment_columns=columns(Assignment, "a"), **_names())


def lock_image_and_assignment(assignment_id: int) -> tuple[Image, Assignment]:
    """Both row locks in one statement. PostgreSQL takes them in the order of the FROM
    list, image first, the same order as every other path of the engine."""
    locked = fetch_one(Assignment, _lock_image_and_assignment_sql(), [assignment_id],
                       extra=("image_is_gold", "image_status", "image_slots_taken", "image_extra_replicas"))
    if locked is None:
        raise Assignment.DoesNotExist(f"assignment {assignment_id} no longer exists")
    image = Image(pk=locked.image_id, is_gold=bool(locked.image_is_gold), status=locked.image_status,
                  slots_taken=locked.image_slots_taken, extra_replicas=locked.image_extra_replicas)
    return image, locked


#: Submit's writes as one statement (the row locks are already held): store the
#: annotation, mark the assignment submitted, recount the image. The counts exclude
#: this assignment's old row (the statement reads one snapshot) and add its new
#: state, so they equal what `recount_one` would find afterwards.
_STORE_SUBMISSION_SQL = """
    WITH stored AS (
        INSERT INTO {annotation} (image_id, source, annotator_id, instances, version, created_at, updated_at)
        VALUES (%(image)s, '{annotator_source}', %(annotator)s, %(instances)s::jsonb, 1, %(now)s, %(now)s)
        RETURNING id
    ), marked AS (
        UPDATE {assignment} SET
            state = '{submitted}', submitted_at = %(now)s, annotation_id = (SELECT id FROM stored),
            instance_count = %(instance_count)s, submission_digest = %(digest)s, active_ms = %(active_ms)s,
            client_active_ms = %(client_active_ms)s, observed_ms = %(observed_ms)s,
            last_activity_at = %(last_activity_at)s
        WHERE id = %(assignment)s
        RETURNING id
    )
    UPDATE {image} SET
        slots_taken = 1 + (SELECT COUNT(*) FROM {assignment}
                           WHERE image_id = %(image)s AND {holds_a_slot} AND id <> %(assignment)s),
        submitted_count = 1 + (SELECT COUNT(*) FROM {assignment}
                               WHERE image_id = %(image)s AND state = '{submitted}' AND id <> %(assignment)s),
        next_lease_expiry = (SELECT MIN(lease_expires_at) FROM {assignment}
                             WHERE image_id = %(image)s AND state = '{leased}' AND id <> %(assignment)s)
    WHERE id = %(image)s AND EXISTS (SELECT 1 FROM marked)
    RETURNING submitted_count, status, (SELECT id FROM stored)
"""


def store_submission(locked: Assignment, image: Image, instances: list[dict], now: datetime) -> tuple[int, str]:
    with connection.cursor() as cursor:
        cursor.execute(_sql(_STORE_SUBMISSION_SQL), {
            "image": image.pk, "annotator": locked.annotator_id, "assignment": locked.pk, "now": now,
            "instances": json.dumps(instances), "instance_count": locked.instance_count,
            "digest": locked.submission_digest, "active_ms": locked.active_ms,
            "client_active_ms": locked.client_active_ms, "observed_ms": locked.observed_ms,
            "last_activity_at": locked.last_activity_at,
        })
        submitted, status, annotation_id = cursor.fetchone()
    locked.annotation_id = annotation_id
    return submitted, status


#: The common lease as one statement in its own transaction: pick and lock the best
#: image (the shared candidate condition, SKIP LOCKED), insert the lease and bump the
#: image's counters. It leases only an image with a free slot; when the best candidate
#: first needs an overdue lease reclaimed (or nothing is free) it leases nothing and
#: the general path (`leases.lease_from_pool`) takes over. Every column without a
#: default is listed: a new NOT NULL field on Assignment must be added here (the tests
#: would fail).
_LEASE_ONE_STATEMENT_SQL = """
    WITH candidate AS (
        SELECT i.id, i.slots_taken, i.extra_replicas {candidates}
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    ), leased AS (
        INSERT INTO {assignment} (
            project_id, image_id, annotator_id, vendor_id, state, leased_at, lease_expires_at, last_activity_at,
            instructions_version, active_ms, client_active_ms, observed_ms, instance_count, submission_digest,
            review_comments
        )
        SELECT %(project)s, candidate.id, %(user)s, %(vendor)s, '{leased}', %(now)s, %(expires)s, %(now)s,
               %(instructions_version)s, 0, 0, 0, 0, '', {reassigned_comments}
        FROM candidate WHERE {candidate_has_free_slot}
        RETURNING id, image_id, review_comments
    ), counted AS (
        UPDATE {image} i SET
            slots_taken = i.slots_taken + 1,
            next_lease_expiry = LEAST(i.next_lease_expiry, %(expires)s),
            status = {start_annotation}
        FROM leased WHERE i.id = leased.image_id
        RETURNING i.id, i.file, i.width, i.height
    )
    SELECT leased.id, counted.id, counted.file, counted.width, counted.height, leased.review_comments
    FROM leased JOIN counted ON counted.id = leased.image_id
"""


def lease_in_one_statement(user, project: Project, vendor_id, now: datetime) -> Assignment | None:
    """The lease, or None when the general path must decide (see the SQL)."""
    instructions_version = rules.instructions_version(project)
    expires = now + timedelta(seconds=project.lease_seconds)
    params = {
        "project": project.pk, "gold": False, "replicas": project.replicas, "user": user.pk, "vendor": vendor_id,
        "now": now, "expires": expires, "instructions_version": instructions_version,
    }
    with statement_of_its_own():
        with connection.cursor() as cursor:
            cursor.execute(_sql(_LEASE_ONE_STATEMENT_SQL), params)
            row = cursor.fetchone()
    if row is None:
        return None
    assignment_id, image_id, file, width, height, review_comments = row
    image = Image(pk=image_id, project_id=project.pk, file=file, width=width, height=height, is_gold=False)
    return Assignment(
        pk=assignment_id, project=project, image=image, annotator=user, vendor_id=vendor_id, state=State.LEASED,
        leased_at=now, lease_expires_at=expires, last_activity_at=now, instructions_version=instructions_version,
        review_comments=json.loads(review_comments) if isinstance(review_comments, str) else review_comments,
    )


#: The common submit as one statement, no transaction around it: a lease that is still
#: open, on an image this submit does not complete (the last replica also starts
#: scoring, which the general path does in its transaction). It runs on what the
#: caller read, unlocked, and checks that under the locks:
#: - `guard` locks the image first (the engine's lock order) and holds only while
#:   this is not the image's last replica (`rules.is_last_replica`), not a gold
#:   image (scored against gold in the general path's transaction) and not a
#:   rework (whose last resubmission starts the rescore);
#: - `marked` moves the assignment to submitted only if it is still the open lease
#:   the active time was computed from (state and active-time fields unchanged);
#: - the annotation and the image's count follow `marked`, so all or nothing happens.
#: Counters change by deltas, which READ COMMITTED applies to the latest row version:
#: a lease that becomes a submission keeps its slot, so only submitted_count moves.
#: next_lease_expiry is left as it was: a lower bound, made exact by the next recount.
_SUBMIT_ONE_STATEMENT_SQL = """
    WITH guard AS (
        SELECT i.id FROM {image} i
        WHERE i.id = %(image)s
          AND NOT i.is_gold AND i.status <> '{rework}' AND (NOT {in_annotation} OR {not_last_replica})
        FOR UPDATE
    ), new_annotation AS (
        SELECT nextval(pg_get_serial_sequence('{annotation}', 'id')) AS id
    ), marked AS (
        UPDATE {assignment} a SET
            state = '{submitted}', submitted_at = %(now)s, annotation_id = (SELECT id FROM new_annotation),
            instance_count = %(instance_count)s, submission_digest = %(digest)s, active_ms = %(active_ms)s,
            client_active_ms = %(client_active_ms)s, observed_ms = %(observed_ms)s,
            last_activity_at = %(last_activity_at)s
        WHERE a.id = %(assignment)s AND a.state = '{leased}' AND EXISTS (SELECT 1 FROM guard)
          AND a.observed_ms = %(read_observed_ms)s AND a.client_active_ms = %(read_client_active_ms)s
          AND a.last_activity_at IS NOT DISTINCT FROM %(read_last_activity_at)s
        RETURNING a.annotation_id
    ), stored AS (
        INSERT INTO {annotation} (id, image_id, source, annotator_id, instances, version, created_at, updated_at)
        SELECT marked.annotation_id, %(image)s, '{annotator_source}', %(annotator)s, %(instances)s::jsonb, 1,
               %(now)s, %(now)s
        FROM marked
        RETURNING id
    ), counted AS (
        UPDATE {image} SET submitted_count = submitted_count + 1
        WHERE id = %(image)s AND EXISTS (SELECT 1 FROM marked)
    )
    SELECT id FROM stored
"""


def submit_in_one_statement(read: Assignment, submitted: Assignment, instances: list[dict]) -> Assignment | None:
    """`submitted` (read's submitted state, active time credited) stored, or None when the
    general path must decide (see the SQL)."""
    with statement_of_its_own():
        with connection.cursor() as cursor:
            cursor.execute(_sql(_SUBMIT_ONE_STATEMENT_SQL), {
                "image": read.image_id, "replicas": read.project.replicas, "assignment": read.pk,
                "annotator": read.annotator_id, "now": submitted.submitted_at, "instances": json.dumps(instances),
                "instance_count": submitted.instance_count, "digest": submitted.submission_digest,
                "active_ms": submitted.active_ms, "client_active_ms": submitted.client_active_ms,
                "observed_ms": submitted.observed_ms, "last_activity_at": submitted.last_activity_at,
                "read_observed_ms": read.observed_ms, "read_client_active_ms": read.client_active_ms,
                "read_last_activity_at": read.last_activity_at,
            })
            row = cursor.fetchone()
    if row is None:
        return None
    submitted.annotation_id = row[0]
    return submitted
