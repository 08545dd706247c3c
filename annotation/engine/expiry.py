"""Lease expiry in bulk: periodic housekeeping (selection also reclaims lazily, see leases.py)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ..models import Assignment, Image
from .paths import lock
from .reference import recount_images

State = Assignment.State


def expire_overdue_of(image_ids, now: datetime) -> int:
    """Mark the overdue open leases of these (locked) images expired and recount them.

    A rework lease is not reclaimed for anyone else: it goes back to `rework`,
    still reserved for the annotator the QA lead chose (their next task).
    """
    overdue = Assignment.objects.filter(image_id__in=image_ids, state=State.LEASED, lease_expires_at__lte=now)
    expired = overdue.filter(image__status=Image.Status.REWORK).update(state=State.REWORK)
    expired += overdue.update(state=State.EXPIRED)
    recount_images(Image.objects.filter(pk__in=image_ids))
    return expired


def expire_overdue_leases(*, now: datetime | None = None, batch_size: int = 1000) -> int:
    """Reclaim every overdue lease.

    Images another transaction holds are skipped: that transaction reclaims
    them itself or the next run does. Returns the number of leases expired.
    """
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            image_ids = list(
                lock(Image.objects.filter(next_lease_expiry__lte=now).order_by("pk"), skip_locked=True)
                .values_list("pk", flat=True)[:batch_size]
            )
            if not image_ids:
                return total
            total += expire_overdue_of(image_ids, now)
        if len(image_ids) < batch_size:
            return total
