"""The skeleton change page in a real headless Chromium: live preview and reordering.

Needs Debian's chromium (/usr/bin/chromium) and Playwright for Python;
.ci/run installs both.
"""

import os

import pytest
from django.db import connections

from annotation.services.skeletons import create_skeleton

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARM = {
    "name": "arm",
    "keypoints": [
        {"name": "left_hand", "sigma": 0.06, "flip_partner": "right_hand", "layout": [0.1, 0.5]},
        {"name": "right_hand", "sigma": 0.06, "flip_partner": "left_hand", "layout": [0.9, 0.5]},
        {"name": "neck", "sigma": 0.05, "layout": [0.5, 0.2]},
    ],
    "edges": [["left_hand", "neck"], ["right_hand", "neck"]],
}


@pytest.fixture
def admin_page(live_server, django_user_model, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls
    # the test makes between page actions are still plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    django_user_model.objects.create_superuser("root", password="pw")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "root")
        page.fill("#id_password", "pw")
        page.click("input[type=submit]")
        yield page
        browser.close()
        # Inside Playwright's loop the ORM has its own connections (asgiref
        # locals are per context); close them or the test database can't be dropped.
        connections.close_all()


def keypoint_names_in_preview(page):
    return page.eval_on_selector_all("#skeleton-preview g.keypoint", "gs => gs.map(g => g.dataset.name)")


def order_shown(page):
    rows = page.eval_on_selector_all(
        "#keypoints-group tr.form-row",
        "rs => rs.map(r => [r.querySelector('[name$=-name]').value, r.querySelector('[name$=-order]').value])",
    )
    return [tuple(row) for row in rows if row[0]]


def test_preview_follows_edits_and_reordering_is_saved(admin_page, live_server):
    skeleton = create_skeleton(ARM)
    page = admin_page
    page.goto(f"{live_server.url}/admin/annotation/skeleton/{skeleton.pk}/change/")
    assert page.locator("#skeleton-preview circle").count() == 3
    assert page.locator("#skeleton-preview line").count() == 2

    # Renaming a keypoint redraws at once: the edges to the old name go away.
    page.fill("input[name='keypoints-2-name']", "head")
    assert sorted(keypoint_names_in_preview(page)) == ["head", "left_hand", "right_hand"]
    assert page.locator("#skeleton-preview line").count() == 0
    page.fill("input[name='keypoints-2-name']", "neck")
    assert page.locator("#skeleton-preview line").count() == 2

    # Moving a keypoint's layout moves its circle.
    before = page.get_attribute("#skeleton-preview g.keypoint[data-name='neck'] circle", "cx")
    page.fill("input[name='keypoints-2-layout_x']", "0.8")
    after = page.get_attribute("#skeleton-preview g.keypoint[data-name='neck'] circle", "cx")
    assert float(after) > float(before)
    page.fill("input[name='keypoints-2-layout_x']", "0.5")

    # Alt+Up on neck's handle moves it up one row; dragging it onto the first
    # row moves it first. Saving stores the order shown.
    rows = page.locator("#keypoints-group tr.form-row")
    rows.nth(2).locator(".keypoint-drag-handle").focus()
    page.keyboard.press("Alt+ArrowUp")
    assert order_shown(page) == [("left_hand", "0"), ("neck", "1"), ("right_hand", "2")]
    rows.nth(1).locator(".keypoint-drag-handle").drag_to(rows.nth(0), target_position={"x": 5, "y": 2})
    assert order_shown(page) == [("neck", "0"), ("left_hand", "1"), ("right_hand", "2")]
    page.click("input[name='_save']")
    page.wait_for_url("**/admin/annotation/skeleton/")
    assert list(skeleton.keypoints.values_list("name", flat=True)) == ["neck", "left_hand", "right_hand"]
