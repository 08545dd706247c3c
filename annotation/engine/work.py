"""An open lease's life: draft, heartbeat, release, and the one refusal sentence for a closed one."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from jointly.domain_errors import Conflict

from ..models import Assignment, Image
from ..services.active_time import ACTIVE_TIME_FIELDS, credit_active_time
from .paths import lock, statements

State = Assignment.State
#: A draft is work in progress, not a label: it is stored as given, within reason.
MAX_DRAFT_BYTES = 1_000_000


class LeaseConflict(Conflict):
    """A sentence saying why this assignment cannot take the request."""


def locked_assignment(assignment: Assignment) -> Assignment:
    """Lock the assignment's image, then the assignment (the engine's lock order)."""
    lock(Image.objects.filter(pk=assignment.image_id)).get()
    return lock(Assignment.objects.select_related("image", "project").filter(pk=assignment.pk)).get()


def refuse_unless_open(assignment: Assignment, action: str) -> None:
    if assignment.state == State.LEASED:
        return
    reasons = {
        State.SUBMITTED: "it was already submitted",
        State.RELEASED: "you released it",
        State.EXPIRED: f"its lease expired at {assignment.lease_expires_at.isoformat()}",
        State.REJECTED: "it was rejected in review",
        State.REWORK: "it was sent back for rework: ask for your next task to reopen it",
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
        locked = locked_assignment(assignment)
        refuse_unless_open(locked, "save a draft of")
        locked.draft = draft
        locked.draft_saved_at = now
        credit_active_time(locked, client_active_ms, now, locked.project.idle_limit_seconds)
        locked.save(update_fields=["draft", "draft_saved_at", *ACTIVE_TIME_FIELDS])
        return locked


def heartbeat(assignment: Assignment, *, client_active_ms: int | None = None, now: datetime | None = None) -> Assignment:
    """The annotator is still working: keeps active time creditable past the idle limit."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = locked_assignment(assignment)
        refuse_unless_open(locked, "record activity on")
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
        locked = locked_assignment(assignment)
        if locked.state == State.RELEASED:
            return locked
        if locked.state not in (State.LEASED, State.EXPIRED):
            refuse_unless_open(locked, "release")
        if locked.state == State.LEASED:
            credit_active_time(locked, client_active_ms, now, locked.project.idle_limit_seconds)
        locked.state = State.RELEASED
        locked.released_at = now
        locked.save(update_fields=["state", "released_at", *ACTIVE_TIME_FIELDS])
        statements().recount_one(locked.image_id)
        return locked
