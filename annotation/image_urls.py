"""Where a client fetches an image's file: the one place its URL is written.

Never the storage's own URL (`image.file.url`): that would point around the
access check of `GET /api/v1/images/{id}/file/` (annotation/api/files.py).
"""

from __future__ import annotations

from django.urls import reverse


def image_file_url(image, request=None) -> str | None:
    """The image's file URL: absolute when given the request (API payloads), else the path;
    None for an image without a file (imported from COCO without its image folder)."""
    if not image.file:
        return None
    path = reverse("image-file", args=[image.pk])
    return request.build_absolute_uri(path) if request is not None else path
