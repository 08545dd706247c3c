"""The QA lead's queue: lease the next review task, renew, release.

Leases work like the annotators' (annotation/engine/): one
short transaction, ``SELECT ... FOR UPDATE SKIP LOCKED`` so concurrent QA
leads never wait on the same row and never get the same task, an expiry
after which anybody may take the task, and asking again returns (and
renews) the lease one holds. Order:

1. rework results first (an image that came back from rework was already
   judged once; finishing it closes a loop someone is waiting on);
2. spot checks interleaved at the project's `spot_check_share` while
   disputed images also wait, so the sample gets looked at;
3. otherwise lowest agreement first (the most disputed image is where a
   human adds the most), then oldest.

A QA lead may also hold one task leased ahead of the current one (the
workspace prefetches it), by the same rule as the annotators' lease ahead.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Callable

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from annotation.engine.leases import lease_ahead_rule
from annotation.models import Project

from ..models import ReviewTask
from ..selectors import visible_review_tasks
from .errors import ReviewConflict

Kind = ReviewTask.Kind


def _open_tasks(project: Project, user):
    """The project's open tasks the user may be given (review.selectors.visible_review_tasks)."""
    return visible_review_tasks(user).filter(project=project, state=ReviewTask.State.OPEN)


def _free(now: datetime) -> Q:
    return Q(leased_by__isnull=True) | Q(lease_expires_at__lte=now)


def _lease(task: ReviewTask, user, project: Project, now: datetime, *, ahead: bool = False) -> ReviewTask:
    task.leased_by, task.ahead = user, ahead
    task.lease_expires_at = now + timedelta(seconds=project.lease_seconds)
    task.save(update_fields=["leased_by", "ahead", "lease_expires_at"])
    return task


def held_task(user, project: Project, *, ahead: bool = False) -> ReviewTask | None:
    """The caller's current review lease in the project (ahead=True: the one leased ahead of it),
    locked (SKIP LOCKED): call it inside a transaction."""
    return (_open_tasks(project, user).filter(leased_by=user, ahead=ahead)
            .select_for_update(skip_locked=True, of=("self",)).order_by("id").first())


def next_review(
    user, project: Project, *, now: datetime | None = None, rng: Callable[[], float] = random.random,
    ahead: bool = False,
) -> tuple[ReviewTask | None, bool]:
    """Lease the caller the next review task of the project; returns (task, created).

    The lease the caller already holds comes back first (renewed when it ran
    out and nobody took it), so a reload never skips a task.

    ahead=True leases the task after the one the caller holds, by the
    annotators' rule (annotation.engine.leases.lease_ahead_rule): the workspace
    fetches it while the QA lead decides, and shows it at once after the
    decision. Its lease runs, expires and is released like any other; the next
    plain (or ahead) `next` after the decision makes it the current one.
    """
    now = now or timezone.now()
    with transaction.atomic():
        _one_lease_call_at_a_time(user, project)
        ahead, held = lease_ahead_rule(
            ahead, lambda kind: held_task(user, project, ahead=kind), lambda: _promote_ahead(user, project, now))
        if held is not None:
            if held.lease_expires_at <= now:
                _lease(held, user, project, now, ahead=ahead)
            return held, False
        free = _open_tasks(project, user).filter(_free(now)).select_for_update(skip_locked=True, of=("self",))
        # Unmeasured agreement (too few annotators drew the image) is the least settled of all.
        order = (F("agreement").asc(nulls_first=True), "id")
        pools = [free.filter(kind=Kind.REWORK)]
        spot = free.filter(kind=Kind.SPOT_CHECK)
        disputed = free.filter(kind=Kind.REVIEW)
        pools += [spot, disputed] if rng() < project.spot_check_share else [disputed, spot]
        for pool in pools:
            task = pool.order_by(*order).first()
            if task is not None:
                return _lease(task, user, project, now, ahead=ahead), True
    return None, False


def _one_lease_call_at_a_time(user, project: Project) -> None:
    """Serialize one person's lease calls in a project until the transaction ends. Two of their calls
    at once (a plain next beside a lease-ahead) would each SKIP LOCKED the row the other holds, and
    one could answer "queue empty" while a task waits. SQLite serializes writers already."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # two int4 keys; a collision only makes two calls wait in turn
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [project.pk % 2**31, user.pk % 2**31])


def _promote_ahead(user, project: Project, now: datetime) -> ReviewTask | None:
    """The task leased ahead becomes the current one; its lease counts from now (the QA lead starts on it)."""
    task = held_task(user, project, ahead=True)
    return _lease(task, user, project, now) if task is not None else None


def renew_review_lease(task: ReviewTask, user, *, now: datetime | None = None) -> ReviewTask:
    """Extend the caller's lease on a task; refused when someone else holds it or it is closed."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = ReviewTask.objects.select_for_update().select_related("project").get(pk=task.pk)
        _refuse_unless_leasable(locked, user, now)
        return _lease(locked, user, locked.project, now)


def release_review_lease(task: ReviewTask, user, *, now: datetime | None = None) -> ReviewTask:
    """Give the task back to the queue (idempotent for the holder)."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = ReviewTask.objects.select_for_update().get(pk=task.pk)
        if locked.leased_by_id in (None, user.pk) or (locked.lease_expires_at and locked.lease_expires_at <= now):
            locked.leased_by, locked.lease_expires_at, locked.ahead = None, None, False
            locked.save(update_fields=["leased_by", "lease_expires_at", "ahead"])
            return locked
        raise ReviewConflict(
            f"Review task {locked.pk} is leased by another QA lead until {locked.lease_expires_at.isoformat()}.",
            version=locked.version,
        )


def _refuse_unless_leasable(task: ReviewTask, user, now: datetime) -> None:
    if task.state != ReviewTask.State.OPEN:
        raise ReviewConflict(f"Review task {task.pk} is already decided.", version=task.version)
    if task.leased_by_id not in (None, user.pk) and task.lease_expires_at and task.lease_expires_at > now:
        raise ReviewConflict(
            f"Review task {task.pk} is leased by another QA lead until {task.lease_expires_at.isoformat()}.",
            version=task.version,
        )
