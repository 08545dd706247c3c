"""Store one source's labels for one image, validated against the project skeleton.

There is one Annotation per (image, source) for the single-valued sources
(import, gold, consensus, review), per (image, annotator) for annotators and
per (image, pose model) for models. `save_annotation` creates or replaces it
in one transaction and bumps `version`, so a client holding an older version
gets a conflict instead of overwriting someone else's work.
"""

from __future__ import annotations

import orjson
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from jointly.domain_errors import Conflict
from jointly.bulk import copy_into_temp_table, use_copy

from ..models import Annotation, Image
from .instances import validate_instances

Source = Annotation.Source


class StaleAnnotation(Conflict):
    """The annotation changed since the caller read it (optimistic lock)."""

    default_detail = "The annotation was changed by someone else; reload it and apply your change again."


def annotation_key(image: Image, source: str, *, annotator=None, pose_model=None) -> dict:
    """The lookup that identifies the one annotation of this source on this image."""
    if source not in Source.values:
        raise ValidationError({"source": f"Unknown source '{source}'; expected one of {', '.join(Source.values)}."})
    key = {"image": image, "source": source}
    if source == Source.ANNOTATOR:
        if annotator is None:
            raise ValidationError({"annotator": "An annotator annotation needs its annotator."})
        key["annotator"] = annotator
    elif annotator is not None:
        raise ValidationError({"annotator": f"Only annotator annotations name an annotator, not '{source}'."})
    if source == Source.MODEL:
        key["pose_model"] = pose_model
    elif pose_model is not None:
        raise ValidationError({"pose_model": f"Only model annotations name a pose model, not '{source}'."})
    return key


@transaction.atomic
def save_annotation(
    image: Image, source: str, instances, *, annotator=None, pose_model=None, expected_version: int | None = None,
) -> Annotation:
    """Validate `instances` against the image's project skeleton and store them.

    Raises ValidationError({"instances": [...]}) naming each instance and
    keypoint at fault, and StaleAnnotation when `expected_version` is given
    and no longer current. Returns the stored Annotation.
    """
    key = annotation_key(image, source, annotator=annotator, pose_model=pose_model)
    spec = image.project.skeleton.spec()
    clean = validate_instances(instances, spec, image.width, image.height,
                               max_instances=image.project.max_instances_per_image)
    current = Annotation.objects.select_for_update().filter(**key).first()
    if current is None:
        if expected_version not in (None, 0):
            raise StaleAnnotation()
        return Annotation.objects.create(**key, instances=clean)
    if expected_version is not None and expected_version != current.version:
        raise StaleAnnotation()
    current.instances = clean
    current.version += 1
    current.save(update_fields=["instances", "version", "updated_at"])
    return current


def replace_source_annotations(source: str, instances_by_image: dict[int, list[dict]]) -> dict[str, int]:
    """Set the annotation of one single-valued source (import, gold, consensus, review) on many images.

    `instances_by_image` maps image id -> instances already validated or
    produced by the engine. Rows whose instances are unchanged keep their
    version; changed ones get version + 1; missing ones are created. Runs in
    the caller's transaction. Returns counts: created, updated, unchanged.
    """
    if source in (Source.ANNOTATOR, Source.MODEL):
        raise ValueError(f"'{source}' annotations belong to an annotator or model, not to an image alone")
    if not instances_by_image:
        return {"created": 0, "updated": 0, "unchanged": 0}
    if use_copy(len(instances_by_image)):
        return _replace_with_copy(source, instances_by_image)
    existing = {a.image_id: a for a in Annotation.objects.filter(source=source, image_id__in=instances_by_image)}
    changed, new = [], []
    for image_id, instances in instances_by_image.items():
        current = existing.get(image_id)
        if current is None:
            new.append(Annotation(image_id=image_id, source=source, instances=instances))
        elif current.instances != instances:
            current.instances, current.version, current.updated_at = instances, current.version + 1, timezone.now()
            changed.append(current)
    Annotation.objects.bulk_create(new, batch_size=2000)
    Annotation.objects.bulk_update(changed, ["instances", "version", "updated_at"], batch_size=2000)
    return {"created": len(new), "updated": len(changed), "unchanged": len(existing) - len(changed)}


def _replace_with_copy(source: str, instances_by_image: dict[int, list[dict]]) -> dict[str, int]:
    table = Annotation._meta.db_table
    now = timezone.now()
    with connection.cursor() as cursor:
        copy_into_temp_table(
            cursor, "jointly_new_annotations", [("image_id", "bigint"), ("instances", "jsonb")],
            ((image_id, orjson.dumps(instances).decode()) for image_id, instances in instances_by_image.items()),
        )
        cursor.execute(
            f"UPDATE {table} AS a SET instances = n.instances, version = a.version + 1, updated_at = %s "
            "FROM jointly_new_annotations AS n "
            "WHERE a.source = %s AND a.image_id = n.image_id AND a.instances IS DISTINCT FROM n.instances",
            [now, source],
        )
        updated = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {table} (image_id, source, instances, version, created_at, updated_at) "
            "SELECT n.image_id, %s, n.instances, 1, %s, %s FROM jointly_new_annotations AS n "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS a WHERE a.source = %s AND a.image_id = n.image_id)",
            [source, now, now, source],
        )
        created = cursor.rowcount
        cursor.execute("DROP TABLE jointly_new_annotations")
    return {"created": created, "updated": updated, "unchanged": len(instances_by_image) - created - updated}
