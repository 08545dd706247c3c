"""The engine's rules, each written once, as Python, as an ORM expression and as SQL side by side.

Who may take an image (the candidate condition), when a slot is free (the
replica limit), when a submit is an image's last replica and which images
are in annotation: the reference (`reference.py`, the ORM) and PostgreSQL's
statements (`postgres.py`) both take them from here, with table and column
names from the models and states from the state machine
(`annotation/services/image_status.py`), so the two paths cannot drift apart.

SQL fragments use named parameters: %(project)s, %(user)s, %(gold)s,
%(replicas)s, %(now)s.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from ..models import Assignment, Image, Project
from ..services import image_status

State = Assignment.State
#: Image states in which leases are handed out.
IN_ANNOTATION = image_status.IN_ANNOTATION
#: Assignment states that hold one of an image's `replicas` slots.
HOLDS_A_SLOT = (State.LEASED, State.SUBMITTED)


def table(model) -> str:
    return model._meta.db_table


def column(model, field: str) -> str:
    return model._meta.get_field(field).column


# --- the replica limit ---------------------------------------------------------------


def replica_target(project: Project, image: Image) -> int:
    """Annotators an image needs: the project's replicas plus those adaptive replicas added
    (review/services/scoring.py raises `extra_replicas` one at a time, up to `max_replicas`)."""
    return project.replicas + image.extra_replicas


def has_free_slot(slots_taken: int, replicas: int, *, gold: bool = False) -> bool:
    """Gold images check every annotator: they are not capped by replicas."""
    return gold or slots_taken < replicas


def is_last_replica(submitted_count: int, replicas: int) -> bool:
    """Once this many are submitted, the image leaves annotation for scoring."""
    return submitted_count >= replicas


def free_slot_sql(slots_taken: str, extra_replicas: str) -> str:
    """`has_free_slot` (not gold) in SQL against `replica_target`, for columns or expressions."""
    return f"{slots_taken} < %(replicas)s + {extra_replicas}"


def not_last_replica_sql(submitted_count: str, extra_replicas: str) -> str:
    """`not is_last_replica(...)` in SQL against `replica_target`, for columns or expressions."""
    return f"{submitted_count} < %(replicas)s + {extra_replicas}"


def holds_a_slot_sql(state: str) -> str:
    return f"{state} IN ({', '.join(repr(str(s)) for s in HOLDS_A_SLOT)})"


def reassigned_comments_sql(image_id: str) -> str:
    """A new lease's `review_comments`: those a QA lead left when giving the image to new annotators
    (kept on the set-aside assignments, keypoint and point only; see review/services/decisions.py),
    else none. SQL for an image id column or placeholder, in every lease's INSERT."""
    return (f"coalesce((SELECT r.review_comments FROM {table(Assignment)} r WHERE r.image_id = {image_id} "
            f"AND r.state = '{State.REJECTED}' AND r.review_comments <> '[]' ORDER BY r.id DESC LIMIT 1), '[]')")


# --- who may take an image: the candidate condition ---------------------------------------


def candidates(user, project: Project, now: datetime, *, gold: bool) -> QuerySet[Image]:
    """The images this annotator may be leased, best first (the reference)."""
    images = Image.objects.filter(project=project, is_gold=gold).exclude(
        Exists(Assignment.objects.filter(image_id=OuterRef("pk"), annotator=user))
    )
    if not gold:
        # Gold images are never scored into a consensus, so they check annotators in any
        # status: imported ones stay new, one a QA lead promoted stays accepted.
        images = images.filter(status__in=IN_ANNOTATION)
    if gold:
        # The least-used gold images go first, to spread the checks.
        return images.order_by("slots_taken", "id")
    # A full image still matches while its earliest lease is overdue: that slot can be reclaimed.
    return images.filter(
        Q(slots_taken__lt=project.replicas + F("extra_replicas")) | Q(next_lease_expiry__lte=now)
    ).order_by(
        "-slots_taken", "-priority", "id"
    )


@lru_cache(maxsize=2)
def candidate_sql(*, gold: bool) -> str:
    """`candidates` as SQL: `SELECT i.id, ... FROM image i WHERE <condition> ORDER BY ...` (no LIMIT, no lock)."""
    i, a = table(Image), table(Assignment)
    status, slots, expiry = column(Image, "status"), column(Image, "slots_taken"), column(Image, "next_lease_expiry")
    where = [
        f"i.{column(Image, 'project')} = %(project)s",
        f"i.{column(Image, 'is_gold')} = %(gold)s",
        "TRUE" if gold else image_status.sql_in(f"i.{status}", IN_ANNOTATION),  # see `candidates`
        f"NOT EXISTS (SELECT 1 FROM {a} a WHERE a.{column(Assignment, 'image')} = i.id "
        f"AND a.{column(Assignment, 'annotator')} = %(user)s)",
    ]
    if gold:
        order = f"i.{slots}, i.id"
    else:
        where.append(f"({free_slot_sql('i.' + slots, 'i.' + column(Image, 'extra_replicas'))} OR i.{expiry} <= %(now)s)")
        order = f"i.{slots} DESC, i.{column(Image, 'priority')} DESC, i.id"
    return f"FROM {i} i WHERE {' AND '.join(where)} ORDER BY {order}"


def in_annotation_sql(alias: str) -> str:
    return image_status.sql_in(f"{alias}.{column(Image, 'status')}", IN_ANNOTATION)


def instructions_version(project: Project) -> int | None:
    """The instructions version a lease records (what the annotator acknowledged to get it)."""
    if not project.instructions_id:
        return None
    # task_context() brings the version along; otherwise read it from the instructions.
    return getattr(project, "current_instructions_version", None) or project.instructions.version
