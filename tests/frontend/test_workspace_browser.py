"""The annotator workspace in a real headless Chromium against a live server on PostgreSQL.

Each test saves a screenshot under tests/frontend/screenshots/ (git-ignored):
what a person sees at the end of the test.
"""

from __future__ import annotations

import pytest

from annotation.models import Annotation, Assignment

from .workspace_fixtures import (
    COCO17_POSITIONS, browser, labels_state, make_setup, marker_centres, media, open_page, open_workspace,
    screenshot, sign_in, wait_for_task,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
__all__ = ["browser", "make_setup", "media"]  # fixtures, imported for pytest

LEFT_WRIST, RIGHT_WRIST = 9, 10


def flipped(points: list[tuple[float, float]], flip: list[int]) -> list[tuple[float, float]]:
    return [points[flip[i]] for i in range(len(points))]


def test_label_a_person_from_sign_in_to_submit(browser, live_server, make_setup):
    setup = make_setup(images=2)
    page = open_page(browser)
    sign_in(page, live_server, "anna")
    # The annotator lands on their projects with their own numbers and a start button.
    row = page.locator(f"#annotator-projects tr[data-project='{setup.project.pk}']")
    assert "new instructions to read first" in row.inner_text()
    row.locator("a.start").click()

    # First time: the instructions, rendered, before any task; no lease until acknowledged.
    page.wait_for_selector("#acknowledge", state="visible")
    assert page.locator("#instructions-body h1").inner_text() == "Rules"
    assert not Assignment.objects.filter(project=setup.project).exists()
    page.click("#acknowledge")
    first_id = wait_for_task(page)
    assert page.locator("#next-name").inner_text() == "nose"

    # Every action has a button whose tooltip names its key.
    titles = page.eval_on_selector_all("button[data-action]", "bs => bs.map(b => [b.dataset.action, b.title])")
    assert {"submit", "undo", "redo", "flip", "occluded", "fit", "skip_task", "accept_prelabels"} <= {a for a, _ in titles}
    assert dict(titles)["flip"].endswith("(F)") and dict(titles)["redo"].endswith("(Ctrl+Shift+Z or Ctrl+Y)")

    # Zoom in with the wheel around a point, pan with space-drag, zoom out with "-".
    stage = page.locator("#stage").bounding_box()
    centre = (stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2)
    fit_scale = page.evaluate("window.jointly.viewport.scale")
    page.mouse.move(*centre)
    page.mouse.wheel(0, -200)
    page.wait_for_function("s => window.jointly.viewport.scale > 1.2 * s", arg=fit_scale)
    page.keyboard.down("Space")
    page.mouse.down()
    page.mouse.move(centre[0] + 60, centre[1] + 40, steps=5)
    page.mouse.up()
    page.keyboard.up("Space")
    for _ in range(3):
        page.keyboard.press("-")
    assert page.evaluate("window.jointly.viewport.scale") != pytest.approx(fit_scale)

    # Place the first ten keypoints where the image shows them, pan with the middle button, place the rest.
    centres = marker_centres(page, range(10))
    for i in range(10):
        page.mouse.click(*centres[i])
    assert page.locator("#next-name").inner_text() == "right wrist"
    page.mouse.move(*centre)
    page.mouse.down(button="middle")
    page.mouse.move(centre[0] - 50, centre[1] - 30, steps=4)
    page.mouse.up(button="middle")
    centres = marker_centres(page, range(10, 17))
    for i in range(10, 17):
        page.mouse.click(*centres[i])

    # Mark the left wrist occluded (select it in the list, press Q; Tab and Shift+Tab walk the points).
    page.click(f"#keypoint-list li[data-index='{LEFT_WRIST}']")
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("q")
    assert "occluded" in page.locator(f"#keypoint-list li[data-index='{LEFT_WRIST}']").inner_text()

    # Flip, undo, redo: the flipped instance is what is submitted.
    flip = page.evaluate("window.jointly.labels.skeleton.flip")
    placed = [tuple(labels_state(page)[0]["keypoints"][3 * i:3 * i + 2]) for i in range(17)]
    page.keyboard.press("f")
    after_flip = labels_state(page)[0]["keypoints"]
    page.keyboard.press("Control+z")
    assert labels_state(page)[0]["keypoints"][3 * LEFT_WRIST + 2] == 1
    page.keyboard.press("Control+Shift+z")
    assert labels_state(page)[0]["keypoints"] == after_flip
    screenshot(page, "workspace_labeled_coco17")

    # Submit with one key: the next image is drawn, and the stored labels are the clicked positions.
    page.keyboard.press("Enter")
    second_id = wait_for_task(page, not_id=first_id)
    assert second_id != first_id
    assert page.locator("#next-name").inner_text() == "nose"
    stored = Annotation.objects.get(assignments__id=first_id).instances
    assert len(stored) == 1
    expected = flipped(COCO17_POSITIONS, flip)
    visibility = flipped([(2, 2)] * 17, flip)
    keypoints = stored[0]["keypoints"]
    for i, (x, y) in enumerate(expected):
        assert keypoints[3 * i] == pytest.approx(x, abs=0.5), f"keypoint {i} x"
        assert keypoints[3 * i + 1] == pytest.approx(y, abs=0.5), f"keypoint {i} y"
    # The occluded point moved with the flip: the right wrist now carries it.
    assert [keypoints[3 * i + 2] for i in range(17)] == [1 if i == RIGHT_WRIST else 2 for i in range(17)]
    assert placed[LEFT_WRIST] == pytest.approx(tuple(keypoints[3 * RIGHT_WRIST:3 * RIGHT_WRIST + 2]), abs=1e-3)
    # The box was derived from the keypoints with padding and holds them all.
    x, y, w, h = stored[0]["bbox"]
    assert x < min(p[0] for p in expected) and x + w > max(p[0] for p in expected)
    assert y < min(p[1] for p in expected) and y + h > max(p[1] for p in expected)
    screenshot(page, "workspace_next_image")
    assert page.errors == []
