"""Skeleton presets shipped as data in `annotation/presets/*.json`.

Each file is a COCO category in the form `to_coco_category` writes, plus a
`sources` key citing where every sigma comes from.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from django.db import transaction

from ..models import Skeleton

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"


@lru_cache(maxsize=1)
def preset_categories() -> tuple[dict, ...]:
    return tuple(json.loads(path.read_text()) for path in sorted(PRESET_DIR.glob("*.json")))


def sigmas_for_names(names: list[str]) -> list[float] | None:
    """Sigmas of the preset with exactly these keypoint names, if any."""
    for category in preset_categories():
        if category["keypoints"] == list(names):
            return list(category["sigmas"])
    return None


@transaction.atomic
def load_presets() -> list[tuple[Skeleton, bool]]:
    """Create each preset skeleton unless its latest version already matches it.

    Returns (skeleton, created) pairs. Running it twice changes nothing.
    """
    from .skeletons import create_skeleton, definition_from_coco_category, definition_of, update_skeleton

    results = []
    for category in preset_categories():
        definition, _ = definition_from_coco_category(category)
        latest = Skeleton.objects.filter(name=definition["name"]).order_by("-version").first()
        if latest is None:
            results.append((create_skeleton(definition), True))
            continue
        current = definition_of(latest)
        wanted = {k: definition[k] for k in current}
        if _normalized(current) == _normalized(wanted):
            results.append((latest, False))
        else:
            results.append((update_skeleton(latest, definition), True))
    return results


def _normalized(definition: dict) -> str:
    return json.dumps(definition, sort_keys=True)
