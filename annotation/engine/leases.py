"""Next task: lease the caller one image that still needs replicas and that they never had.

See README.md beside this file for the flowchart.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Callable, TypeVar

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ..models import Assignment, Image, Project
from . import rules
from .paths import lock, statements

State = Assignment.State
T = TypeVar("T")
#: How many candidates one `next_task` may inspect and find full after
#: reclaiming their overdue leases before it gives up for this call.
SELECTION_ATTEMPTS = 8


def open_lease(user, project: Project, *, ahead: bool = False) -> Assignment | None:
    """The caller's current lease in the project (ahead=True: the one leased ahead of it)."""
    return (
        Assignment.objects.select_related("image")
        .filter(project=project, annotator=user, state=State.LEASED, ahead=ahead)
        .first()
    )


def _promote_lease_ahead(user, project: Project, now: datetime) -> Assignment | None:
    """Make the lease taken ahead the current one: the person starts on it now, so its
    lease, wall time and idle gaps count from now (none of the previous image's time)."""
    ahead = open_lease(user, project, ahead=True)
    if ahead is None:
        return None
    with transaction.atomic():
        lock(Image.objects.filter(pk=ahead.image_id)).get()
        assignment = lock(Assignment.objects.select_related("image").filter(pk=ahead.pk)).get()
        if assignment.state != State.LEASED or not assignment.ahead:
            return None
        assignment.ahead = False
        assignment.leased_at = assignment.last_activity_at = now
        assignment.lease_expires_at = now + timedelta(seconds=project.lease_seconds)
        assignment.save(update_fields=["ahead", "leased_at", "last_activity_at", "lease_expires_at"])
        statements().recount_one(assignment.image_id)
        return assignment


def lease_ahead_rule(
    ahead: bool, held: Callable[[bool], T | None], promote: Callable[[], T | None],
) -> tuple[bool, T | None]:
    """The lease-ahead rule, shared by the annotators' queue and the QA leads' (review/services/queue.py).

    A person holds at most a current lease and one leased ahead of it. Returns
    (ahead, held): whether this call leases ahead, and the lease it answers with
    if the caller already has one. A plain `next` answers with the current lease,
    or, when there is none (it was submitted or decided), promotes the one taken
    ahead to current. `ahead` while a current lease exists answers with the lease
    already taken ahead (None: lease one); without a current lease (after the
    promotion found nothing) it is a plain `next`.
    held(ahead) reads the caller's lease of that kind; promote() makes the one
    taken ahead current and returns it (None when there was none).
    """
    current = held(False) or promote()
    if not ahead or current is None:
        return False, current
    return True, held(True)


def next_task(
    user, project: Project, *, vendor_id: int | None, now: datetime | None = None,
    rng: Callable[[], float] = random.random, may_hold_lease: bool = True, ahead: bool = False,
    rework_id: int | None | bool = True, gold_only: bool = False,
) -> tuple[Assignment | None, bool]:
    """Lease the caller one image that still needs replicas and that they never had.

    Returns (assignment, created). Asking again while holding a lease returns
    that lease (renewed if it ran out and nobody reclaimed its slot), so a
    reload never burns a task. (None, False) when nothing is left for them.
    Gold images are mixed in at the project's gold rate, through the same
    code path and the same response, and only while real work remains.
    may_hold_lease=False lets a caller that already knows there is no open
    lease (it asked in its access query) skip looking for one.

    ahead=True, while the caller holds a current lease, leases the image they
    get next (or returns the one already leased ahead): the workspace fetches
    it while the person labels, so it appears at once after submit. Without a
    current lease it is a plain `next`. A plain `next` with no current lease
    promotes the lease taken ahead, if any, to current.

    Rework comes first: an image a QA lead sent back to this annotator is
    their next task (rework_id: the reserved assignment when the caller
    already knows it, None when it knows there is none, True to look).
    gold_only: an annotator still qualifying gets gold images only.
    """
    now = now or timezone.now()
    if may_hold_lease:
        ahead, held = lease_ahead_rule(
            ahead, lambda kind: open_lease(user, project, ahead=kind), lambda: _promote_lease_ahead(user, project, now))
    else:
        ahead, held = False, None  # no current lease to lease ahead of: this is a plain next
    if held is not None:
        if held.lease_expires_at > now:
            return held, False
        renewed = _renew_lease(held, project, now)
        if renewed is not None:
            return renewed, False
    if rework_id is True:
        rework_id = Assignment.objects.filter(project=project, annotator=user, state=State.REWORK).values_list(
            "pk", flat=True).first()
    if rework_id and held is None and not ahead:  # a rework is never leased ahead: it is taken up when asked for
        reopened = _reopen_rework(rework_id, project, now)
        if reopened is not None:
            return reopened, True

    pools = [True] if gold_only else [False]
    if not gold_only and project.gold_rate > 0 and rng() < project.gold_rate and rules.candidates(user, project, now, gold=False).exists():
        pools = [True, False]
    for gold in pools:
        for _ in range(3):
            try:
                assignment = (
                    None if gold or ahead else statements().lease_in_one_statement(user, project, vendor_id, now)
                )
                if assignment is None:
                    assignment = lease_from_pool(user, project, vendor_id, gold=gold, now=now, ahead=ahead)
            except IntegrityError:
                # A concurrent `next` of the same annotator won the one-open-lease
                # constraint: answer with that lease instead of a second one.
                held = open_lease(user, project, ahead=ahead)
                if held is not None:
                    return held, False
                continue
            if assignment is not None:
                return assignment, True
            break
    return None, False


def lease_from_pool(
    user, project: Project, vendor_id, *, gold: bool, now: datetime, ahead: bool = False,
) -> Assignment | None:
    """The general lease, in one transaction: lock the best candidate (SKIP LOCKED),
    reclaim its overdue leases if it has any, and lease it if a slot is free."""
    paths = statements()
    with transaction.atomic():
        for _ in range(SELECTION_ATTEMPTS):
            image = paths.select_candidate(user, project, now, gold=gold)
            if image is None:
                return None
            if image.next_lease_expiry is not None and image.next_lease_expiry <= now:
                Assignment.objects.filter(
                    image_id=image.pk, state=State.LEASED, lease_expires_at__lte=now
                ).update(state=State.EXPIRED)
                taken, _, _ = paths.recount_one(image.pk)
                if not rules.has_free_slot(taken, rules.replica_target(project, image), gold=gold):
                    continue  # every slot is really taken; it no longer matches the selection
            assignment = Assignment.objects.create(
                project=project, image=image, annotator=user, vendor_id=vendor_id, state=State.LEASED,
                leased_at=now, lease_expires_at=now + timedelta(seconds=project.lease_seconds),
                last_activity_at=now, instructions_version=rules.instructions_version(project), ahead=ahead,
                review_comments=_reassigned_comments(image.pk),
            )
            paths.recount_one(image.pk, start=True)
            return assignment
        return None


def _reassigned_comments(image_id: int) -> list:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {rules.reassigned_comments_sql('%s')}", [image_id])
        value = cursor.fetchone()[0]
    return json.loads(value) if isinstance(value, str) else value  # SQLite hands JSON back as text


def _reopen_rework(assignment_id: int, project: Project, now: datetime) -> Assignment | None:
    """Lease the annotator the image a QA lead sent back to them (assignment rework -> leased)."""
    with transaction.atomic():
        image, locked = statements().lock_image_and_assignment(assignment_id)
        if locked.state != State.REWORK or image.status != Image.Status.REWORK:
            return None
        locked.state, locked.leased_at, locked.last_activity_at = State.LEASED, now, now
        locked.lease_expires_at = now + timedelta(seconds=project.lease_seconds)
        locked.save(update_fields=["state", "leased_at", "last_activity_at", "lease_expires_at"])
        statements().recount_one(image.pk)
        return Assignment.objects.select_related("image").get(pk=locked.pk)


def _renew_lease(held: Assignment, project: Project, now: datetime) -> Assignment | None:
    """Give an annotator back their own ran-out lease if nobody reclaimed its slot meanwhile."""
    with transaction.atomic():
        lock(Image.objects.filter(pk=held.image_id)).get()
        assignment = lock(Assignment.objects.select_related("image").filter(pk=held.pk)).get()
        if assignment.state != State.LEASED:
            return None
        assignment.lease_expires_at = now + timedelta(seconds=project.lease_seconds)
        assignment.save(update_fields=["lease_expires_at"])
        statements().recount_one(assignment.image_id)
        return assignment
