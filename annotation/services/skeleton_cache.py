"""Skeletons cached per process, for the hot paths (submit validates against the spec,
tasks/next sends the skeleton as the workspace draws it).

The key includes the skeleton's updated_at (every service and admin edit
saves the skeleton), and a used skeleton is frozen anyway; the TTL bounds
any edit that bypasses both.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ..models import Skeleton, SkeletonSpec

#: Seconds a skeleton's derived value stays cached in a process.
SKELETON_CACHE_SECONDS = 60
_cache: dict[tuple, tuple[float, Any]] = {}


def cached_for_skeleton(skeleton_id: int, updated_at, kind: str, build: Callable[[], Any]):
    """build(), memoized per (skeleton, version of its row) for a short while."""
    key = (kind, skeleton_id, updated_at)
    hit = _cache.get(key)
    clock = time.monotonic()
    if hit is not None and clock - hit[0] < SKELETON_CACHE_SECONDS:
        return hit[1]
    value = build()
    if len(_cache) > 256:
        _cache.clear()
    _cache[key] = (clock, value)
    return value


def skeleton_spec(skeleton_id: int, updated_at) -> SkeletonSpec:
    return cached_for_skeleton(skeleton_id, updated_at, "spec", lambda: Skeleton.objects.get(pk=skeleton_id).spec())
