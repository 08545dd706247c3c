"""Per-annotator numbers: what a vendor manager watches and what a vendor bills from.

One SQL query over the caller's assignments (annotation/access.py
`statistics_scope`), grouped by annotator and by day and/or project:
tasks submitted, credited active time, median seconds per image and per
instance, lease expiries and rejections.

Which day a row counts on: the day (in the caller's time zone) it ended:
submitted, else released, else the day the lease started. A lease counts as
an expiry if it ran past its expiry time, whatever happened after: reclaimed,
submitted late, or still open.

Medians use PostgreSQL's ``percentile_cont`` inside the same query; on the
embedded SQLite, which lacks it, they come from a second query of the
per-task values.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import connection
import numpy as np
from django.db.models import (
    Aggregate, Count, ExpressionWrapper, F, FloatField, OuterRef, Q, QuerySet, Subquery, Sum,
)
from django.db.models.functions import Cast, Coalesce, TruncDate
from django.utils import timezone

from .models import Assignment

State = Assignment.State
GROUPINGS = ("day", "project")
#: Functions of a scope (Assignments the caller may aggregate) returning per-(annotator, project)
#: quality rows; the review app registers its own (review/apps.py) so this app never imports it.
QUALITY_PROVIDERS: list = []


def quality_numbers(scope: QuerySet[Assignment]) -> list[dict]:
    rows: list[dict] = []
    for provider in QUALITY_PROVIDERS:
        rows.extend(provider(scope))
    return rows
MAX_RANGE_DAYS = 366


class Median(Aggregate):
    """PostgreSQL's continuous median, an ordered-set aggregate."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


@dataclass(frozen=True)
class Period:
    date_from: date
    date_to: date
    tz: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.date_from, time.min, tzinfo=self.tz)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=self.tz)


FIRST_DATE, LAST_DATE = date(1970, 1, 1), date(2999, 12, 31)


def parse_period(params, *, default_days: int = 30, required: bool = False) -> Period:
    """Read date_from, date_to (ISO dates, inclusive) and tz from query parameters, with clear errors."""
    errors: dict[str, list[str]] = {}
    tz_name = params.get("tz") or "UTC"
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a folder of zones, not one
        errors["tz"] = [f"Unknown time zone {tz_name!r}; use an IANA name such as Europe/Berlin."]
        tz = ZoneInfo("UTC")
    today = timezone.now().astimezone(tz).date()
    parsed: dict[str, date] = {}
    for field in ("date_from", "date_to"):
        raw = params.get(field)
        if not raw:
            if required:
                errors[field] = ["This parameter is required (YYYY-MM-DD)."]
            continue
        try:
            parsed[field] = date.fromisoformat(raw)
        except ValueError:
            errors[field] = [f"Expected a date as YYYY-MM-DD, got {raw[:40]!r}."]
            continue
        if not FIRST_DATE <= parsed[field] <= LAST_DATE:
            # Periods are widened by a day in local time; near year 1 or 9999 that overflows.
            errors[field] = [f"Expected a date from {FIRST_DATE} to {LAST_DATE}, got {raw}."]
            del parsed[field]
    date_to = parsed.get("date_to", today)
    date_from = parsed.get("date_from", date_to - timedelta(days=default_days - 1))
    if not errors and date_from > date_to:
        errors["date_from"] = ["date_from must not be after date_to."]
    if not errors and (date_to - date_from).days + 1 > MAX_RANGE_DAYS:
        errors["date_to"] = [f"A range may cover at most {MAX_RANGE_DAYS} days."]
    if errors:
        raise ValidationError(errors)
    return Period(date_from, date_to, tz)


def parse_grouping(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return GROUPINGS
    parts = tuple(part.strip() for part in raw.split(",") if part.strip())
    unknown = [part for part in parts if part not in GROUPINGS]
    if unknown:
        raise ValidationError({"group_by": [f"Unknown grouping {', '.join(unknown)}; use day, project or both."]})
    return tuple(g for g in GROUPINGS if g in parts)


def sql_median_available() -> bool:
    return connection.vendor == "postgresql"


def annotator_numbers(
    scope: QuerySet[Assignment], period: Period, *, group_by=GROUPINGS, now: datetime | None = None,
) -> list[dict]:
    """Rows of per-annotator numbers, sorted by day, annotator and project."""
    now = now or timezone.now()
    ended_at = Coalesce("submitted_at", "released_at", "leased_at")
    submitted = Q(submitted_at__isnull=False)
    per_instance = ExpressionWrapper(
        Cast("active_ms", FloatField()) / Cast("instance_count", FloatField()), output_field=FloatField()
    )
    keys = ["annotator_id", "annotator__username", "annotator__first_name", "annotator__last_name", "vendor__name"]
    if "project" in group_by:
        keys += ["project_id", "project__name"]
    if "day" in group_by:
        keys.append("day")
    aggregates = {
        "tasks_submitted": Count("pk", filter=submitted),
        "total_active_ms": Coalesce(Sum("active_ms"), 0),
        "lease_expiries": Count(
            "pk",
            filter=Q(state=State.EXPIRED)
            | Q(submitted_at__gt=F("lease_expires_at"))
            | Q(state=State.LEASED, lease_expires_at__lt=now),
        ),
        "rejections": Count("pk", filter=Q(state=State.REJECTED)),
    }
    use_sql_median = sql_median_available()
    if use_sql_median:
        aggregates["median_ms_per_image"] = Median("active_ms", filter=submitted)
        aggregates["median_ms_per_instance"] = Median(per_instance, filter=submitted & Q(instance_count__gt=0))
    rows = list(
        scope.annotate(ended_at=ended_at, day=TruncDate(ended_at, tzinfo=period.tz))
        .filter(ended_at__gte=period.start, ended_at__lt=period.end)
        .values(*keys)
        .annotate(**aggregates)
        .order_by(*[k for k in ("day", "annotator__username", "project_id") if k in keys])
    )
    if not use_sql_median:
        _fill_medians_in_python(scope, period, rows, keys, ended_at, per_instance)
    _fill_prelabel_shifts(scope, period, rows, keys, ended_at, per_keypoint="project" in group_by)
    return [_present(row) for row in rows]


def keypoint_shifts(annotated: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Distances (Na, K) from each annotated instance's keypoints to the pre-label it started from.

    annotated (Na, K, 3) and predicted (Np, K, 3) COCO keypoints of one image.
    Each annotated instance is paired with the pre-label whose labeled
    keypoints are nearest on average; NaN where either side did not label
    the keypoint (or there was no pre-label at all).
    """
    if not len(annotated) or not len(predicted):
        return np.full(annotated.shape[:2], np.nan)
    both = (annotated[:, None, :, 2] > 0) & (predicted[None, :, :, 2] > 0)
    d = np.linalg.norm(annotated[:, None, :, :2] - predicted[None, :, :, :2], axis=3)
    d = np.where(both, d, np.nan)
    common = both.sum(axis=2)
    mean = np.where(common > 0, np.nansum(d, axis=2) / np.maximum(common, 1), np.inf)  # (Na, Np)
    nearest = np.argmin(mean, axis=1)
    return d[np.arange(len(annotated)), nearest]


def _fill_prelabel_shifts(scope, period, rows, keys, ended_at, *, per_keypoint: bool) -> None:
    """How far annotators moved each keypoint from the pre-label they were shown (pixels).

    Per row: `prelabel_shift` = {keypoints: how many were compared, mean_px,
    per_keypoint_px (grouped by project only: one skeleton per row)}. The
    submitted annotation is compared with the project's pre-label model's
    annotation of the image, for projects that show pre-labels.
    """
    from .models import Annotation

    prelabel = Annotation.objects.filter(
        image=OuterRef("image"), source=Annotation.Source.MODEL, pose_model=OuterRef("project__prelabel_model"),
    ).values("instances")[:1]
    compared = (
        scope.annotate(ended_at=ended_at, day=TruncDate(ended_at, tzinfo=period.tz), prelabel=Subquery(prelabel))
        .filter(ended_at__gte=period.start, ended_at__lt=period.end, submitted_at__isnull=False,
                project__show_prelabels=True, project__prelabel_model__isnull=False, annotation__isnull=False,
                prelabel__isnull=False)
        .values_list(*keys, "annotation__instances", "prelabel")
    )
    sums: dict[tuple, list] = {}
    for *key, annotated, predicted in compared:
        a = _keypoint_array(annotated)
        p = _keypoint_array(predicted)
        if a is None or p is None or (len(p) and a.shape[1] != p.shape[1]):
            continue
        shifts = keypoint_shifts(a, p)
        total = sums.setdefault(tuple(key), [np.zeros(a.shape[1]), np.zeros(a.shape[1])])
        if len(total[0]) != a.shape[1]:
            continue
        total[0] += np.nansum(shifts, axis=0)
        total[1] += np.isfinite(shifts).sum(axis=0)
    for row in rows:
        summed, counts = sums.get(tuple(row[k] for k in keys), (np.zeros(0), np.zeros(0)))
        n = int(counts.sum())
        shift = {"keypoints": n, "mean_px": round(float(summed.sum() / n), 2) if n else None}
        if per_keypoint:
            shift["per_keypoint_px"] = [round(float(s / c), 2) if c else None for s, c in zip(summed, counts)]
        row["prelabel_shift"] = shift


def _keypoint_array(instances) -> np.ndarray | None:
    """(N, K, 3) keypoints of stored instances, or None when they do not form one array."""
    try:
        array = np.asarray([inst["keypoints"] for inst in instances or []], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        return None
    if array.size == 0:
        return np.zeros((0, 0, 3))
    return array.reshape(len(array), -1, 3) if array.ndim == 2 and array.shape[1] % 3 == 0 else None


def _fill_medians_in_python(scope, period, rows, keys, ended_at, per_instance) -> None:
    values: dict[tuple, tuple[list, list]] = {}
    submitted = (
        scope.annotate(ended_at=ended_at, day=TruncDate(ended_at, tzinfo=period.tz))
        .filter(ended_at__gte=period.start, ended_at__lt=period.end, submitted_at__isnull=False)
        .values_list(*keys, "active_ms", "instance_count")
    )
    for *key, active_ms, instance_count in submitted:
        per_image, per_inst = values.setdefault(tuple(key), ([], []))
        per_image.append(active_ms)
        if instance_count:
            per_inst.append(active_ms / instance_count)
    for row in rows:
        per_image, per_inst = values.get(tuple(row[k] for k in keys), ([], []))
        row["median_ms_per_image"] = statistics.median(per_image) if per_image else None
        row["median_ms_per_instance"] = statistics.median(per_inst) if per_inst else None


def _seconds(ms) -> float | None:
    return None if ms is None else round(ms / 1000.0, 3)


def _present(row: dict) -> dict:
    name = f"{row.pop('annotator__first_name')} {row.pop('annotator__last_name')}".strip()
    out = {
        "annotator": {"id": row.pop("annotator_id"), "username": row.pop("annotator__username"), "name": name},
        "vendor": row.pop("vendor__name"),
    }
    if "project_id" in row:
        out["project"] = {"id": row.pop("project_id"), "name": row.pop("project__name")}
    if "day" in row:
        out["day"] = row.pop("day").isoformat()
    out.update(
        tasks_submitted=row["tasks_submitted"],
        active_seconds=_seconds(row["total_active_ms"]),
        median_seconds_per_image=_seconds(row["median_ms_per_image"]),
        median_seconds_per_instance=_seconds(row["median_ms_per_instance"]),
        lease_expiries=row["lease_expiries"],
        rejections=row["rejections"],
        prelabel_shift=row["prelabel_shift"],
    )
    return out
