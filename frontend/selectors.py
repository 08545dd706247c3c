"""Reads for the landing pages: what a signed-in person works on and what they may reach.

Every queryset starts from annotation/access.py, so a page never lists a
project its reader could not open through the API.
"""

from __future__ import annotations

from datetime import datetime, time

from django.db.models import Count, Q, Sum
from django.utils import timezone

from annotation.access import (
    annotatable_projects, managed_projects, managed_vendors, own_assignments, quality_projects,
    reviewable_projects, supervised_vendors, visible_projects,
)
from annotation.models import Assignment, InstructionsAcknowledgement

State = Assignment.State


def annotator_projects(user, *, now: datetime | None = None) -> list[dict]:
    """The projects the user labels on, each with their own numbers (two queries in all)."""
    now = now or timezone.localtime()
    start_of_day = timezone.make_aware(datetime.combine(now.date(), time.min), now.tzinfo)
    projects = list(
        annotatable_projects(user).select_related("skeleton", "instructions").order_by("name")
    )
    numbers = {
        row["project_id"]: row
        for row in own_assignments(user).filter(project__in=[p.pk for p in projects]).values("project_id").annotate(
            submitted=Count("pk", filter=Q(state=State.SUBMITTED)),
            submitted_today=Count("pk", filter=Q(state=State.SUBMITTED, submitted_at__gte=start_of_day)),
            active_ms=Sum("active_ms", filter=Q(state=State.SUBMITTED)),
            open_leases=Count("pk", filter=Q(state=State.LEASED)),
            rejected=Count("pk", filter=Q(state=State.REJECTED)),
        )
    }
    acknowledged = set(
        InstructionsAcknowledgement.objects.filter(user=user).values_list("instructions_id", "version")
    )
    rows = []
    for project in projects:
        row = numbers.get(project.pk, {})
        submitted = row.get("submitted", 0)
        active_ms = row.get("active_ms") or 0
        rows.append({
            "project": project,
            "submitted": submitted,
            "submitted_today": row.get("submitted_today", 0),
            "active_hours": active_ms / 3_600_000,
            "seconds_per_image": (active_ms / 1000 / submitted) if submitted else None,
            "open_lease": row.get("open_leases", 0) > 0,
            "rejected": row.get("rejected", 0),
            "needs_acknowledgement": bool(project.instructions_id) and (
                (project.instructions_id, project.instructions.version) not in acknowledged
            ),
        })
    return rows


def reachable_areas(user) -> list[dict]:
    """What a non-annotator may open, grouped by what they do there; empty groups left out."""
    groups = [
        ("Projects you manage", managed_projects(user), "project"),
        ("Review queues you work", reviewable_projects(user), "project"),
        ("Agreement and consensus you may read", quality_projects(user), "project"),
        ("Vendors you run", managed_vendors(user), "vendor"),
        ("Vendors whose numbers you read", supervised_vendors(user), "vendor"),
        ("Projects you can see", visible_projects(user), "project"),
    ]
    areas = []
    for title, queryset, kind in groups:
        items = list(queryset.order_by("name").values("pk", "name")[:200])
        if items:
            areas.append({"title": title, "kind": kind, "items": items})
    return areas
