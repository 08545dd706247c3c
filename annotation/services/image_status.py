"""The image state machine: the one owner of every write of `Image.status`.

An image moves through the pipeline along this table and nowhere else:

    from        to          function              who calls it
    ---------   ---------   -------------------   -----------------------------------------------
    new         annotating  start_annotation      the engine, on an image's first lease
    annotating  scoring     start_scoring         the engine, when the last replica is submitted
    scoring     annotating  request_replica       scoring, when agreement asks for one more replica
    scoring     review      send_to_review        scoring: disagreement, a blocking flag, spot check
    scoring     accepted    auto_accept           scoring: agreement reached, nothing flagged
    review      accepted    accept                the QA lead accepts (or edits) the consensus
    review      rework      send_to_rework        the QA lead rejects: annotators redo the image
    review      annotating  reassign              the QA lead rejects: new annotators label it instead
    rework      scoring     rescore               the rework is in: score it again
    accepted    review      reopen                a QA lead re-opens an accepted image

Every function moves only images that are in its `from` state, with one
conditional UPDATE (``... WHERE status = from``), so no caller can make a
transition outside the table, whatever it read before: a concurrent change
makes the update skip the row, and the count it returns says so.

The engine's PostgreSQL statements move an image in the same statement as
the lease that starts it; they take that SQL from `sql_start_annotation`, so a
search for status writes finds this module and nothing else.

There is no "rejected" image status: a QA rejection sends the image to
rework (the assignment, not the image, is marked rejected); migration
0003_image_status_machine moved any old "rejected" image to review.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from django.db.models import QuerySet

from ..models import Image

Status = Image.Status


@dataclass(frozen=True)
class Transition:
    name: str
    source: str
    target: str
    label: str


#: The table (see the module docstring). Order is the pipeline's order.
TRANSITIONS: tuple[Transition, ...] = (
    Transition("start_annotation", Status.NEW, Status.ANNOTATING, "Start annotation"),
    Transition("start_scoring", Status.ANNOTATING, Status.SCORING, "Send to scoring"),
    Transition("request_replica", Status.SCORING, Status.ANNOTATING, "Ask for one more replica"),
    Transition("send_to_review", Status.SCORING, Status.REVIEW, "Send to review"),
    Transition("auto_accept", Status.SCORING, Status.ACCEPTED, "Accept (scoring)"),
    Transition("accept", Status.REVIEW, Status.ACCEPTED, "Accept (review)"),
    Transition("send_to_rework", Status.REVIEW, Status.REWORK, "Send to rework"),
    Transition("reassign", Status.REVIEW, Status.ANNOTATING, "Give to new annotators"),
    Transition("rescore", Status.REWORK, Status.SCORING, "Score again after rework"),
    Transition("reopen", Status.ACCEPTED, Status.REVIEW, "Re-open for review"),
)
ALLOWED: frozenset[tuple[str, str]] = frozenset((t.source, t.target) for t in TRANSITIONS)
BY_NAME: dict[str, Transition] = {t.name: t for t in TRANSITIONS}

#: States in which annotators are still labeling blind (leases are handed out).
IN_ANNOTATION: tuple[str, ...] = (Status.NEW, Status.ANNOTATING)
#: States whose images carry a scoring result (a project re-score covers them).
SCORED: tuple[str, ...] = (Status.SCORING, Status.REVIEW, Status.ACCEPTED)


def is_allowed(source: str, target: str) -> bool:
    return (source, target) in ALLOWED


def targets_from(source: str) -> list[Transition]:
    """The transitions an image in `source` may take (the admin offers these)."""
    return [t for t in TRANSITIONS if t.source == source]


def _ids(images: QuerySet[Image] | Iterable[int | Image]) -> QuerySet[Image]:
    if isinstance(images, QuerySet):
        return images
    ids = [image.pk if isinstance(image, Image) else image for image in images]
    return Image.objects.filter(pk__in=ids)


def apply(transition: Transition, images: QuerySet[Image] | Iterable[int | Image]) -> int:
    """Move those of `images` that are in the transition's source state; returns how many moved."""
    return _ids(images).filter(status=transition.source).update(status=transition.target)


def move(images: QuerySet[Image] | Iterable[int | Image], *, source: str, target: str) -> int:
    """Move images from `source` to `target` if the table allows it; 0 moved when it does not."""
    for transition in TRANSITIONS:
        if (transition.source, transition.target) == (source, target):
            return apply(transition, images)
    return 0


# --- one function per transition ------------------------------------------------------


def start_annotation(images) -> int:
    return apply(BY_NAME["start_annotation"], images)


def start_scoring(images) -> int:
    return apply(BY_NAME["start_scoring"], images)


def request_replica(images) -> int:
    return apply(BY_NAME["request_replica"], images)


def send_to_review(images) -> int:
    return apply(BY_NAME["send_to_review"], images)


def auto_accept(images) -> int:
    return apply(BY_NAME["auto_accept"], images)


def accept(images) -> int:
    return apply(BY_NAME["accept"], images)


def send_to_rework(images) -> int:
    return apply(BY_NAME["send_to_rework"], images)


def reassign(images) -> int:
    return apply(BY_NAME["reassign"], images)


def rescore(images) -> int:
    return apply(BY_NAME["rescore"], images)


def reopen(images) -> int:
    return apply(BY_NAME["reopen"], images)


# --- the same transitions as SQL, for statements that must move an image themselves ----


def sql_start_annotation(column: str) -> str:
    """SQL for the new status of `column` after `start_annotation` (unchanged unless new)."""
    transition = BY_NAME["start_annotation"]
    return f"CASE WHEN {column} = '{transition.source}' THEN '{transition.target}' ELSE {column} END"


def sql_in(column: str, states: Iterable[str]) -> str:
    """`column IN (...)` for a set of states (a read, e.g. the engine's candidate condition)."""
    return f"{column} IN ({', '.join(repr(str(s)) for s in states)})"
