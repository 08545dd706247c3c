"""Where a client fetches an image's file: the one place its URL is written.

Never the storage's own URL (`image.file.url`): that would point around the
access check of `GET /api/v1/images/{id}/file/` (annotation/api/files.py).
"""

from __future__ import annotations

from functools import lru_cache

from django.urls import reverse


@lru_cache(maxsize=1)
def _prefix_and_suffix() -> tuple[str, str]:
    # Reversed once per process: the task payload is on the engine's hot path.
    prefix, suffix = reverse("image-file", args=[0]).rsplit("0", 1)
    return prefix, suffix


def image_file_url(image, request=None) -> str | None:
    """The image's file URL: absolute when given the request (API payloads), else the path;
    None for an image without a file (imported from COCO without its image folder)."""
    if not image.file:
        return None
    prefix, suffix = _prefix_and_suffix()
    path = f"{prefix}{image.pk}{suffix}"
    return request.build_absolute_uri(path) if request is not None else path
