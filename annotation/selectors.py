"""Read helpers of the annotation app.

Access scoping lives in `access.py`; these only narrow an already-permitted
project's data. Query parameters are read at the edge (api/filters.py).
"""

from django.db.models import QuerySet

from .models import Image, Project

def filtered_images(
    project: Project, *, status: list[str] | None = None, is_gold: bool | None = None, file_name: str | None = None,
    include_gold: bool = True,
) -> QuerySet[Image]:
    """A project's images with any of these statuses, gold or not, file name containing (case-insensitive).

    Without `include_gold` gold images are left out altogether (see access.sees_gold).
    """
    queryset = Image.objects.filter(project=project).order_by("id")
    if not include_gold:
        queryset = queryset.filter(is_gold=False)
    if status:
        queryset = queryset.filter(status__in=status)
    if is_gold is not None:
        queryset = queryset.filter(is_gold=is_gold)
    if file_name:
        queryset = queryset.filter(file_name__icontains=file_name)
    return queryset
