"""Query parameters of the list endpoints: one filter serializer per endpoint, one way to read each kind.

A flag is DRF's BooleanField (1/0, true/false, yes/no, on/off; anything else
is a 400 naming the parameter), an id is `IdField`, a comma-separated choice
list is `ChoiceList`. Views call `read(FilterSerializer, request.query_params)`
and get the validated values or the one error shape, naming the parameter.
"""

from __future__ import annotations

from rest_framework import serializers

from jointly.query_params import parse_id

from ..models import Annotation, Assignment, Image
from ..services.coco_import import IMPORT_SOURCES
from ..stats import GROUPINGS, parse_grouping, parse_period


def read(serializer_class: type[serializers.Serializer], params) -> dict:
    """The validated parameters (absent ones left out, blank ones too), or a 400 naming the field."""
    given = {key: value for key, value in params.items() if value not in (None, "")} if params else {}
    serializer = serializer_class(data=given)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class IdField(serializers.Field):
    """A row id: digits only."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = parse_id(str(data))
        if value is None or value < 1:
            raise serializers.ValidationError(f"Expected an id, got {str(data)[:40]!r}.")
        return value

    def to_representation(self, value):
        return value


class Flag(serializers.BooleanField):
    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)


class ChoiceList(serializers.Field):
    """A comma-separated list of choices: `status=review,accepted`."""

    def __init__(self, choices, *, noun: str, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.choices, self.noun = tuple(choices), noun

    def to_internal_value(self, data):
        values = [part.strip() for part in str(data).split(",") if part.strip()]
        unknown = sorted(set(values) - set(self.choices))
        if unknown:
            raise serializers.ValidationError(
                f"Unknown {self.noun} {', '.join(unknown)}; expected one of {', '.join(self.choices)}."
            )
        return values

    def to_representation(self, value):
        return ",".join(value)


# --- one per list endpoint ---------------------------------------------------------


class AssignmentFilter(serializers.Serializer):
    """GET /api/v1/assignments/"""

    project = IdField()
    state = ChoiceList(Assignment.State.values, noun="state")


class ImageFilter(serializers.Serializer):
    """GET /api/v1/projects/{id}/images/"""

    status = ChoiceList(Image.Status.values, noun="status")
    is_gold = Flag()
    file_name = serializers.CharField(required=False, max_length=500, help_text="Substring, case-insensitive.")


class ProjectFilter(serializers.Serializer):
    """GET /api/v1/projects/"""

    organization = IdField()
    is_active = Flag()


class SkeletonFilter(serializers.Serializer):
    """GET /api/v1/skeletons/"""

    name = serializers.CharField(required=False, max_length=100)


class StaffingFilter(serializers.Serializer):
    """GET /api/v1/vendors/{id}/staffing/"""

    project = IdField()


class ProjectRequired(serializers.Serializer):
    """GET /api/v1/models/leaderboard/ (and any list of one project's rows)."""

    project = IdField(required=True, error_messages={"required": "Give the project: ?project=ID."})


class PeriodFilter(serializers.Serializer):
    """date_from, date_to (inclusive ISO dates) and tz; `period` is the parsed stats.Period."""

    date_from = serializers.CharField(required=False, help_text="First day (YYYY-MM-DD), inclusive.")
    date_to = serializers.CharField(required=False, help_text="Last day (YYYY-MM-DD), inclusive.")
    tz = serializers.CharField(required=False, max_length=64, help_text="IANA time zone (default UTC).")
    period_required = False

    def validate(self, attrs):
        # stats.parse_period owns the rules (defaults, the longest range, time zones).
        return {**attrs, "period": parse_period(attrs, required=self.period_required)}


class TimesheetFilter(PeriodFilter):
    """GET /api/v1/vendors/{id}/timesheet/"""

    period_required = True


class StatsFilter(PeriodFilter):
    """GET /api/v1/workforce/stats/"""

    vendor = IdField()
    project = IdField()
    annotator = IdField()
    group_by = serializers.CharField(required=False, help_text=f"{', '.join(GROUPINGS)} or both (default).")

    def validate(self, attrs):
        attrs = super().validate(attrs)
        return {**attrs, "group_by": parse_grouping(attrs.get("group_by"))}



# --- options of the two uploads (query parameters or form fields) ---------------------


class UploadOptions(serializers.Serializer):
    """POST /api/v1/projects/{id}/images/"""

    partial = Flag(default=False, help_text="Store the good files even if some are rejected.")


class CocoImportOptions(serializers.Serializer):
    """POST /api/v1/projects/{id}/import-coco/"""

    source = serializers.ChoiceField(choices=IMPORT_SOURCES, default=Annotation.Source.IMPORT)
    category_id = serializers.IntegerField(required=False, allow_null=True, default=None)
    create_missing_images = Flag(default=False)
    image_root = serializers.CharField(required=False, default="", max_length=500)
    dry_run = Flag(default=False)
