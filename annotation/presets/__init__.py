"""Skeleton presets as data: one COCO category per JSON file beside this module.

Each file is a COCO category in the form `services.skeletons.to_coco_category`
writes, plus a `sources` key citing where every sigma comes from. Reading
them needs no service, so both the skeleton services (which look up preset
sigmas for an import without any) and the loader (`services/presets.py`)
import from here, and neither imports the other.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

PRESET_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def preset_categories() -> tuple[dict, ...]:
    return tuple(json.loads(path.read_text()) for path in sorted(PRESET_DIR.glob("*.json")))


def sigmas_for_names(names: list[str]) -> list[float] | None:
    """Sigmas of the preset with exactly these keypoint names, if any."""
    for category in preset_categories():
        if category["keypoints"] == list(names):
            return list(category["sigmas"])
    return None
