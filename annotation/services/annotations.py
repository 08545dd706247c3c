"""Store one source's labels for one image, validated against the project skeleton.

There is one Annotation per (image, source) for the single-valued sources
(import, gold, consensus, review), per (image, annotator) for annotators and
per (image, pose model) for models. `save_annotation` creates or replaces it
in one transaction and bumps `version`, so a client holding an older version
gets a conflict instead of overwriting someone else's work.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from jointly.api_errors import Conflict

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
    clean = validate_instances(instances, spec, image.width, image.height)
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
