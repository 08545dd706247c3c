"""RQ entry points of the annotation app: thin wrappers that call services.

Each takes JSON-serializable keyword arguments plus `progress`, and is
idempotent (see jointly.jobs): running one twice leaves the same rows.
"""

from __future__ import annotations

from django.core.files.storage import default_storage

from .models import Project
from .services.coco_import import CocoImportFailed, ImportOptions, import_coco


def import_coco_file(
    *, progress, project_id: int, storage_name: str, source: str = "import", create_missing_images: bool = False,
    image_root: str = "", category_id: int | None = None, dry_run: bool = False,
) -> dict:
    """Import an uploaded COCO file kept in storage. A bad file raises CocoImportFailed, whose
    `job_result` (every error, counted) becomes the failed job's result."""
    project = Project.objects.select_related("skeleton").get(pk=project_id)
    options = ImportOptions(
        source=source, create_missing_images=create_missing_images, image_root=image_root, category_id=category_id,
    )
    try:
        with default_storage.open(storage_name, "rb") as handle:
            return import_coco(project, handle, options, dry_run=dry_run, progress=progress)
    except CocoImportFailed:
        # A bad file fails the same way every time: keeping it would only use space.
        # A good one is kept, as the record of what was imported.
        default_storage.delete(storage_name)
        raise
