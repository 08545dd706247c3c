"""A staffed COCO-17 project with generated test images, a headless Chromium and sign-in, for the workspace tests.

The test image draws each keypoint's true position as a small square of its
own colour, so a test finds where to click in a screenshot of the page (what a
person sees) rather than from the page's own arithmetic.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from django.db import connections

from annotation.models import (
    Image, Instructions, Membership, Organization, Project, ProjectAnnotator, Vendor,
)
from annotation.presets import PRESET_DIR
from annotation.services.skeletons import create_skeleton, definition_from_coco_category

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
IMAGE_SIZE = (320, 240)
BACKGROUND = (38, 41, 46)
PASSWORD = "correct horse battery"

#: COCO-17 in skeleton order: the pixel each keypoint's marker is centred on (a person facing the viewer,
#: so the subject's left is on the image's right). The true position is the pixel's centre: (px + .5, py + .5).
COCO17_PIXELS = [
    (160, 40), (166, 33), (154, 33), (175, 38), (145, 38), (190, 70), (130, 70), (205, 105), (115, 105),
    (212, 138), (108, 138), (180, 140), (140, 140), (185, 180), (135, 180), (188, 220), (132, 220),
]
COCO17_POSITIONS = [(px + 0.5, py + 0.5) for px, py in COCO17_PIXELS]
_counter = itertools.count(1)


def marker_color(i: int) -> tuple[int, int, int]:
    return (250, 20 + 12 * i, 235 - 11 * i)


def generated_image_pixels(seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8: a dark background with a faint per-image gradient and one 3x3 marker per keypoint."""
    width, height = IMAGE_SIZE
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[:] = BACKGROUND
    pixels[:, :, 2] = (BACKGROUND[2] + (np.arange(width) * (seed + 1)) % 30).astype(np.uint8)[None, :]
    for i, (px, py) in enumerate(COCO17_PIXELS):
        pixels[py - 1:py + 2, px - 1:px + 2] = marker_color(i)
    return pixels


def coco17_skeleton():
    category = json.loads((PRESET_DIR / "coco17_person.json").read_text())
    definition, _ = definition_from_coco_category(category)
    definition["name"] = f"coco-17-test-{next(_counter)}"
    return create_skeleton(definition)


@dataclass
class Setup:
    project: Project
    vendor: Vendor
    images: list[Image]
    annotators: list = field(default_factory=list)


def write_images(project: Project, media_root: Path, count: int) -> list[Image]:
    from PIL import Image as PILImage

    rows = []
    for n in range(count):
        name = f"projects/{project.pk}/test{n}.png"
        path = media_root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        PILImage.fromarray(generated_image_pixels(n)).save(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        rows.append(Image(
            project=project, file=name, file_name=f"test{n}.png", width=IMAGE_SIZE[0], height=IMAGE_SIZE[1], sha256=digest,
        ))
    Image.objects.bulk_create(rows)
    return list(Image.objects.filter(project=project).order_by("id"))


def make_annotator(django_user_model, setup: Setup, username: str):
    user = django_user_model.objects.create_user(username, password=PASSWORD)
    Membership.objects.create(user=user, role=Membership.Role.ANNOTATOR, vendor=setup.vendor)
    ProjectAnnotator.objects.create(project=setup.project, user=user, vendor=setup.vendor)
    setup.annotators.append(user)
    return user


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.ROOT_URLCONF = "tests.frontend.media_urls"
    return tmp_path


@pytest.fixture
def make_setup(media, django_user_model):
    def build(*, images: int = 2, replicas: int = 1, instructions: bool = True, annotators=("anna",), **fields) -> Setup:
        organization = Organization.objects.create(name=f"org{next(_counter)}")
        vendor = Vendor.objects.create(name=f"vendor{next(_counter)}")
        project = Project.objects.create(
            organization=organization, name=f"People {next(_counter)}", skeleton=coco17_skeleton(), replicas=replicas,
            instructions=Instructions.objects.create(
                organization=organization, title="How to label people", body="# Rules\nClick the centre of each joint.\n\n## left wrist\nThe bony bump on the thumb side.",
            ) if instructions else None,
            **fields,
        )
        project.vendors.add(vendor)
        setup = Setup(project, vendor, write_images(project, media, images))
        for name in annotators:
            make_annotator(django_user_model, setup, name)
        return setup

    return build


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls
    # the test makes between page actions are still plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()
        # Inside Playwright's loop the ORM has its own connections (asgiref locals are per
        # context); close them here, or the test database can't be dropped.
        connections.close_all()


class PageErrors(list):
    """JavaScript errors of a page: a test fails on any."""


def open_page(browser, *, width: int = 1280, height: int = 720):
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
    page = context.new_page()
    page.errors = PageErrors()
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    # Shown by pytest when a test fails: what the page said.
    page.on("console", lambda message: print(f"console.{message.type}: {message.text}"))
    page.on("pageerror", lambda error: print(f"page error: {error}"))
    return page


def sign_in(page, live_server, username: str, password: str = PASSWORD):
    page.goto(f"{live_server.url}/")
    page.wait_for_url("**/accounts/login/**")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#sign-in")
    page.wait_for_url(f"{live_server.url}/")


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def open_workspace(page, live_server, project, *, acknowledge: bool = False):
    page.goto(f"{live_server.url}/label/{project.pk}/")
    if acknowledge:
        page.wait_for_selector("#acknowledge", state="visible")
        page.click("#acknowledge")
    wait_for_task(page)


def workspace_page(browser, live_server, project, username: str = "anna", *, page=None):
    """A browser page (new, or `page` with the test's listeners on it) signed in as `username`,
    on the project's workspace with a task on screen."""
    page = page or open_page(browser)
    sign_in(page, live_server, username)
    open_workspace(page, live_server, project)
    return page


def wait_for_task(page, not_id=None):
    page.wait_for_function(
        "notId => window.jointly && window.jointly.task && window.jointly.task.id !== notId && window.jointly.renderer.image",
        arg=not_id,
    )
    return page.evaluate("window.jointly.task.id")


def marker_centres(page, indices) -> dict[int, tuple[float, float]]:
    """Page coordinates of each keypoint's marker as the stage shows it, from a screenshot.

    The label layers are hidden for the shot, so placed points never cover a marker.
    """
    import io

    from PIL import Image as PILImage

    page.evaluate("for (const id of ['layer-static', 'layer-active']) document.getElementById(id).style.visibility = 'hidden'")
    box = page.locator("#stage").bounding_box()
    shot = np.asarray(PILImage.open(io.BytesIO(page.locator("#stage").screenshot())).convert("RGB"))
    page.evaluate("for (const id of ['layer-static', 'layer-active']) document.getElementById(id).style.visibility = ''")
    centres = {}
    for i in indices:
        ys, xs = np.nonzero((shot == np.array(marker_color(i), dtype=np.uint8)).all(axis=2))
        if len(xs) <= 9:
            PILImage.fromarray(shot).save(SCREENSHOTS / "marker_missing.png")
        assert len(xs) > 9, f"marker {i} is not on screen (see screenshots/marker_missing.png)"
        centres[i] = (box["x"] + xs.mean() + 0.5, box["y"] + ys.mean() + 0.5)
    return centres


def labels_state(page) -> list[dict]:
    return page.evaluate("window.jointly.labels.instances.map(i => ({keypoints: i.keypoints.slice(), bbox: i.bbox}))")
