"""Create and configure projects.

A project's skeleton is the meaning of every annotation in it, so it can only
be swapped while the project has no annotations; after that a skeleton change
would silently reinterpret stored keypoints.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import Annotation, Project

#: Fields a manager may set directly; `vendors` is a many-to-many handled apart.
EDITABLE_FIELDS = (
    "name", "description", "skeleton", "instructions", "replicas", "lease_seconds", "idle_limit_seconds",
    "auto_accept_oks", "review_sample_rate", "gold_rate", "prelabel_model", "show_prelabels", "max_instances_per_image",
    "is_active", "max_replicas", "spot_check_share", "qualification_images", "qualification_oks", "pause_gold_oks",
    "pause_loo_oks", "pause_window",
)


def _check_prelabel_model(project: Project) -> None:
    model = project.prelabel_model
    if model is not None and model.skeleton_id != project.skeleton_id:
        raise ValidationError(
            {"prelabel_model": f"Model '{model}' predicts skeleton {model.skeleton_id}, "
             f"but the project uses skeleton {project.skeleton_id}."}
        )


def _check_vendors(project: Project, vendors) -> None:
    """A project is granted only to vendors working for its organization. Any other id
    gets the answer of an id that does not exist, so grants cannot enumerate vendors."""
    allowed = set(project.organization.vendors.values_list("pk", flat=True))
    unknown = [vendor.pk for vendor in vendors if vendor.pk not in allowed]
    if unknown:
        raise ValidationError({"vendors": f'Invalid pk "{unknown[0]}" - object does not exist.'})


@transaction.atomic
def create_project(*, organization, skeleton, vendors=(), **fields: Any) -> Project:
    project = Project(organization=organization, skeleton=skeleton, **fields)
    _check_prelabel_model(project)
    project.full_clean()
    _check_vendors(project, vendors)
    project.save()
    if vendors:
        project.vendors.set(vendors)
    return project


@transaction.atomic
def update_project(project: Project, *, vendors=None, **fields: Any) -> Project:
    locked = Project.objects.select_for_update().get(pk=project.pk)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({f: "This field cannot be changed." for f in sorted(unknown)})
    new_skeleton = fields.get("skeleton")
    if new_skeleton is not None and new_skeleton.pk != locked.skeleton_id:
        if Annotation.objects.filter(image__project=locked).exists():
            raise ValidationError(
                {"skeleton": "The project already has annotations of its skeleton; "
                 "create a new project to use another skeleton."}
            )
    for name, value in fields.items():
        setattr(locked, name, value)
    _check_prelabel_model(locked)
    locked.full_clean()
    if vendors is not None:
        _check_vendors(locked, vendors)
    locked.save()
    if vendors is not None:
        locked.vendors.set(vendors)
    return locked
