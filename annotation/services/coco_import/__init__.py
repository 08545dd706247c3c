"""Import a COCO keypoints file into a project: strict, explained, all-or-nothing, fast.

Three phases, one module each, so that a bad file never writes anything:

1. read (`reading.py`): the bytes must look like JSON (a 100 MB upload of garbage is refused
   from its first bytes, never parsed), then orjson parses it. orjson rejects
   NaN/Infinity, which Python's `json.dump` writes; such a file is re-read
   with the standard library so the offending numbers are reported by
   annotation and keypoint instead of as a syntax error.
2. plan (`planning.py`, `plan_coco_import`): every check, vectorized over all instances
   (one (N, K, 3) array through `instances.array_errors`). Every problem is
   collected — messages capped at MAX_MESSAGES, counts per kind uncapped —
   and raised together as CocoImportFailed.
3. apply (`applying.py`, `apply_coco_import`): one transaction. Missing images are created
   with bulk_create, existing annotations of the source are updated in one
   UPDATE ... FROM unnest(...) (ids survive, `version` is bumped only when the
   content changed), new ones are bulk-inserted. Importing the same file twice
   leaves the same rows.

Quirks of real tools that are accepted, and reported as warnings:

- v=0 keypoints with non-zero x, y (CVAT writes the last position of a point
  marked outside/absent). COCO ignores x, y when v=0, so they are set to 0, 0.
- file names with folders or upload prefixes (Label Studio writes
  ``images/abc.jpg`` or ``/data/upload/1/8f3a2b1c-abc.jpg``): an exact match
  is tried first, then the base name, then the base name without Label
  Studio's 8-hex upload prefix. A base name that fits several project images
  is an error naming them.
- keypoints listed in another order than the skeleton: mapped by name.
- no bbox: derived from the extent of the labeled keypoints. No area: bbox w*h.
- `segmentation`, `attributes` and other extra keys (CVAT): ignored.
- crowd regions (`iscrowd: 1`, no keypoints): skipped, counted.
"""

from __future__ import annotations

from typing import IO, Any
from uuid import uuid4

from django.core.files import File
from django.core.files.storage import default_storage

from jointly.jobs.services import enqueue

from ...models import Annotation, Project
from .applying import apply_coco_import
from .errors import CocoImportFailed
from .planning import IMPORT_SOURCES, ImportOptions, Progress, no_progress, plan_coco_import
from .reading import SNIFF_BYTES, read_coco, sniff_json

__all__ = [
    "IMPORT_SOURCES", "CocoImportFailed", "ImportOptions", "apply_coco_import", "import_coco",
    "plan_coco_import", "read_coco", "sniff_json", "start_coco_import",
]


def import_coco(
    project: Project, source: bytes | IO[bytes], options: ImportOptions, *, dry_run: bool = False,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Read, check and (unless dry_run) write a COCO keypoints file. Raises CocoImportFailed."""
    progress(0, 1, "reading the file")
    # No local reference to the parsed file: the plan frees its bulk as soon as it has read it.
    plan = plan_coco_import(project, read_coco(source), options, progress)
    if dry_run:
        return {
            "ok": True, "dry_run": True, "source": plan.source, "images": len(plan.image_ids),
            "images_to_create": len(plan.new_images), "instances": plan.stats["instances"],
            "category_id": plan.stats["category_id"], "warnings": plan.warnings,
        }
    return apply_coco_import(plan, progress)


def start_coco_import(
    project: Project, handle: IO[bytes], *, created_by=None, source: str = Annotation.Source.IMPORT,
    create_missing_images: bool = False, image_root: str = "", category_id: int | None = None, dry_run: bool = False,
):
    """Keep an uploaded COCO file in storage and run the import job on the `default` queue.

    The file is sniffed first (CocoImportFailed for anything that is not
    JSON), so garbage is neither stored nor queued. Returns the JobRun: still
    queued with a worker, already finished or failed in-process.
    """
    handle.seek(0)
    sniff_json(handle.read(SNIFF_BYTES))
    handle.seek(0)
    storage_name = default_storage.save(f"coco_imports/{project.pk}/{uuid4().hex}.json", File(handle))
    return enqueue(
        "default", "annotation.jobs.import_coco_file",
        description=f"Import COCO into project {project.pk} ({source})", created_by=created_by,
        project_id=project.pk, storage_name=storage_name, source=source,
        create_missing_images=create_missing_images, image_root=image_root, category_id=category_id, dry_run=dry_run,
    )
