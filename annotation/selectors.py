"""Read helpers of the annotation app: querysets built from request parameters.

Access scoping lives in `access.py`; these only narrow an already-permitted
project's data, and raise ValidationError naming the parameter at fault.
"""

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet

from .models import Image, Project

BOOLEAN_VALUES = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def filtered_images(project: Project, params, *, include_gold: bool = True) -> QuerySet[Image]:
    """A project's images filtered by `status` (comma-separated), `is_gold` and `file_name` (substring).

    Without `include_gold` gold images are left out altogether (see access.sees_gold).
    """
    queryset = Image.objects.filter(project=project).order_by("id")
    if not include_gold:
        queryset = queryset.filter(is_gold=False)
    statuses = [s.strip() for s in (params.get("status") or "").split(",") if s.strip()]
    unknown = sorted(set(statuses) - set(Image.Status.values))
    if unknown:
        raise ValidationError(
            {"status": f"Unknown status {', '.join(unknown)}; expected one of {', '.join(Image.Status.values)}."}
        )
    if statuses:
        queryset = queryset.filter(status__in=statuses)
    is_gold = params.get("is_gold")
    if is_gold not in (None, ""):
        if is_gold.lower() not in BOOLEAN_VALUES:
            raise ValidationError({"is_gold": f"Expected true or false, got {is_gold!r}."})
        queryset = queryset.filter(is_gold=BOOLEAN_VALUES[is_gold.lower()])
    if params.get("file_name"):
        queryset = queryset.filter(file_name__icontains=params["file_name"])
    return queryset


def image_counts_by_status(project: Project) -> dict[str, int]:
    """How many images of a project are at each pipeline stage (every status present, zeros included)."""
    counts = Image.objects.filter(project=project).aggregate(
        total=Count("id"), **{s: Count("id", filter=Q(status=s)) for s in Image.Status.values}
    )
    return counts
