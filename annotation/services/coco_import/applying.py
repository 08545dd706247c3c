"""3. Apply: write a checked plan in one transaction, set-based."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from jointly.bulk import is_postgresql

from ...models import Annotation, Image, Project
from ..annotations import replace_source_annotations
from .planning import ImportPlan, NewImage, Progress, no_progress

WRITE_BATCH = 5000


def apply_coco_import(plan: ImportPlan, progress: Progress = no_progress) -> dict[str, Any]:
    """Write a checked plan in one transaction; returns counts of what changed."""
    n_images = len(plan.image_ids)
    with transaction.atomic():
        # One import at a time per project: the existence checks below stay true until commit.
        Project.objects.select_for_update().filter(pk=plan.project.pk).first()
        new_positions = sorted(plan.new_images)
        created_ids: dict[int, int] = {}
        for start in range(0, len(new_positions), WRITE_BATCH):
            chunk = new_positions[start:start + WRITE_BATCH]
            created_ids.update(zip(chunk, insert_images(plan.project, [plan.new_images[p] for p in chunk])))
            progress(0.4 + 0.2 * min(1.0, (start + WRITE_BATCH) / len(new_positions)), 1, "creating images")
        image_ids = [created_ids[i] if i in plan.new_images else plan.image_ids[i] for i in range(n_images)]
        matched = [i for i in range(n_images) if i not in plan.new_images]
        _record_coco_ids([image_ids[i] for i in matched], [plan.coco_ids[i] for i in matched])
        if plan.source == Annotation.Source.GOLD:
            for start in range(0, n_images, WRITE_BATCH):
                Image.objects.filter(pk__in=image_ids[start:start + WRITE_BATCH], is_gold=False).update(is_gold=True)
        progress(0.65, 1, "writing annotations")
        written = replace_source_annotations(
            plan.source, {image_ids[i]: plan.instances_per_image[i] for i in range(n_images)}
        )
    progress(1, 1, "imported")
    return {
        "ok": True, "source": plan.source, "images": n_images, "images_created": len(plan.new_images),
        "instances": plan.stats["instances"], "annotations_created": written["created"],
        "annotations_updated": written["updated"], "annotations_unchanged": written["unchanged"],
        "category_id": plan.stats["category_id"], "warnings": plan.warnings,
    }


def insert_images(project: Project, records: list[NewImage]) -> list[int]:
    """Insert image rows in one INSERT ... SELECT FROM unnest(...) RETURNING id; ids in `records` order.

    bulk_create spends ~10 s preparing 60,000 rows field by field; this sends
    one array per column. Columns this import does not set get their model
    default, so a field added to Image later still gets a value.
    """
    if not records:
        return []
    if not is_postgresql():
        created = Image.objects.bulk_create(
            [Image(project=project, file=r.file, file_name=r.file_name, width=r.width, height=r.height,
                   coco_id=r.coco_id) for r in records], batch_size=2000,
        )
        return [image.pk for image in created]
    given = {
        "project_id": [project.pk] * len(records), "file": [r.file for r in records],
        "file_name": [r.file_name for r in records], "width": [r.width for r in records],
        "height": [r.height for r in records], "coco_id": [r.coco_id for r in records],
        "sha256": [""] * len(records),
    }
    columns, arrays, casts = [], [], []
    for model_field in Image._meta.local_concrete_fields:
        if model_field.primary_key:
            continue
        if model_field.attname in given:
            values = given[model_field.attname]
        elif getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):
            values = [timezone.now()] * len(records)
        else:
            values = [model_field.get_db_prep_save(model_field.get_default(), connection)] * len(records)
        columns.append(connection.ops.quote_name(model_field.column))
        arrays.append(values)
        casts.append(f"%s::{model_field.rel_db_type(connection) if model_field.is_relation else model_field.db_type(connection)}[]")
    sql = (
        f"INSERT INTO {Image._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(columns)} FROM unnest({', '.join(casts)}) WITH ORDINALITY AS v({', '.join(columns)}, n) "
        "ORDER BY n RETURNING id, coco_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        # coco_ids are unique within a plan: map by them rather than trust RETURNING's row order.
        id_of = {coco_id: pk for pk, coco_id in cursor.fetchall()}
    return [id_of[r.coco_id] for r in records]


def _record_coco_ids(image_ids: list[int], coco_ids: list[int]) -> None:
    """Remember each matched image's id in the COCO file (for exports that keep the file's ids)."""
    if not image_ids:
        return
    if not is_postgresql():
        images = list(Image.objects.filter(pk__in=image_ids).only("pk", "coco_id"))
        wanted = dict(zip(image_ids, coco_ids))
        changed = [im for im in images if im.coco_id != wanted[im.pk]]
        for image in changed:
            image.coco_id = wanted[image.pk]
        Image.objects.bulk_update(changed, ["coco_id"], batch_size=2000)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Image._meta.db_table} AS i SET coco_id = v.coco_id "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, coco_id) "
            "WHERE i.id = v.id AND i.coco_id IS DISTINCT FROM v.coco_id",
            [image_ids, coco_ids],
        )
