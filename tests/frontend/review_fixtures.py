"""A review world (tests/review/review_world.py) whose images exist as files, and whose people can sign in."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.review.review_world import make_review_world

from .workspace_fixtures import PASSWORD


def write_image_files(images) -> None:
    """A grey 640x480 JPEG at each image's path under MEDIA_ROOT (the labels are what the tests look at)."""
    from pathlib import Path

    from PIL import Image as PILImage

    for image in images:
        path = Path(settings.MEDIA_ROOT) / image.file.name
        path.parent.mkdir(parents=True, exist_ok=True)
        PILImage.new("RGB", (image.width, image.height), (60, 64, 70)).save(path, "JPEG")


def can_sign_in(*users) -> None:
    for user in users:
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])


@pytest.fixture
def review_world(media):
    def build(n_images: int = 1, **kwargs):
        world = make_review_world(n_images, **kwargs)
        write_image_files(world.images)
        return world

    return build
