"""Load the skeleton presets (data in `annotation/presets/`) as skeletons."""

from __future__ import annotations

from django.db import transaction

from ..models import Skeleton
from ..presets import preset_categories
from .skeletons import (
    create_skeleton, definition_from_coco_category, definition_of, same_definition, update_skeleton,
)


@transaction.atomic
def load_presets() -> list[tuple[Skeleton, bool]]:
    """Create each preset skeleton unless its latest version already matches it.

    Returns (skeleton, created) pairs. Running it twice changes nothing.
    """
    results = []
    for category in preset_categories():
        definition, _ = definition_from_coco_category(category)
        latest = Skeleton.objects.filter(name=definition["name"]).order_by("-version").first()
        if latest is None:
            results.append((create_skeleton(definition), True))
            continue
        if same_definition(definition, definition_of(latest)):
            results.append((latest, False))
        else:
            results.append((update_skeleton(latest, definition), True))
    return results

