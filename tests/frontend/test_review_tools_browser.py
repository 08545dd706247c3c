"""The QA review workspace's prefetched next task and its edit mode (the editor's tools), in real
Chromium against a live server on PostgreSQL, scored by a real `rqworker --burst`."""

from __future__ import annotations

import pytest

from annotation.models import Annotation
from review.models import ReviewDecision, ReviewTask

from .review_fixtures import review_world
from .test_review_browser import drag_right, open_disputed, screen_point
from .workspace_fixtures import browser, media, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
__all__ = ["browser", "media", "review_world"]  # fixtures, imported for pytest

NOSE, LEFT_WRIST, RIGHT_WRIST = 0, 9, 10
NEXT = "/reviews/next/"


def leases_of(user) -> dict[int, bool]:
    return dict(ReviewTask.objects.filter(leased_by=user, state="open").values_list("pk", "ahead"))


def test_after_a_decision_the_prefetched_task_is_shown_with_no_reviews_next_round_trip(
    browser, live_server, review_world, run_worker,
):
    requests: list[str] = []
    world, page = open_disputed(browser, live_server, review_world, run_worker, 3, requests=requests)
    first = page.evaluate("window.jointlyReview.picture")
    # While the QA lead looks, the next task is leased ahead and its image fetched.
    page.wait_for_function("window.jointlyReview.ahead && window.jointlyReview.ahead.ready")
    ahead = page.evaluate("window.jointlyReview.ahead.body")
    assert ahead["task"]["id"] != first["task"]["id"]
    assert leases_of(world.qa_lead) == {first["task"]["id"]: False, ahead["task"]["id"]: True}
    assert any(url.endswith(f"{NEXT}?ahead=1") for url in requests)
    assert any(url.endswith(ahead["image"]["url"]) for url in requests)  # the image is here already

    # From now on every reviews/next request is held unanswered: the page cannot wait on one.
    held = []

    def asks_next(url):
        return NEXT in url

    def hold(route):
        held.append(route)

    page.route(asks_next, hold)
    mark = len(requests)
    page.locator("#stage").focus()
    page.keyboard.press("a")
    page.wait_for_function("id => window.jointlyReview.picture.task.id === id", arg=ahead["task"]["id"])
    page.wait_for_function("window.jointlyReview.renderer.drawn.ellipses.length > 0")
    after = requests[mark:]
    decide = [url for url in after if url.endswith(f"/reviews/{first['task']['id']}/decide/")]
    assert len(decide) == 1
    # Shown without a reviews/next answer (any one asked is still held) and without fetching its image again.
    assert all(route.request.url in after for route in held)
    assert len([url for url in after if NEXT in url]) == len(held)
    assert not any(url.endswith(ahead["image"]["url"]) for url in after)
    assert page.evaluate("window.jointlyReview.renderer.image.src").endswith(ahead["image"]["url"])
    assert ReviewDecision.objects.get(task_id=first["task"]["id"]).action == "accept_consensus"

    # In the background the page asks to lease ahead again; it stays unanswered while the task is on screen.
    page.wait_for_function("window.jointlyReview.requests.filter(r => r.endsWith('?ahead=1')).length === 2")
    page.wait_for_timeout(0)  # let Playwright hand the held request over
    assert [route.request.url.endswith("?ahead=1") for route in held] == [True]
    assert page.evaluate("window.jointlyReview.picture.task.id") == ahead["task"]["id"]

    # Let the held requests through: the shown task becomes current, and the one after it is leased ahead.
    for route in held:
        route.continue_()
    page.unroute(asks_next)
    page.wait_for_function("window.jointlyReview.ahead && window.jointlyReview.ahead.ready")
    third = page.evaluate("window.jointlyReview.ahead.body.task.id")
    assert third not in (first["task"]["id"], ahead["task"]["id"])
    assert leases_of(world.qa_lead) == {ahead["task"]["id"]: False, third: True}
    page_requests = page.evaluate("window.jointlyReview.requests")
    assert page_requests.count(f"POST /api/v1/projects/{world.project.pk}{NEXT}") == 1  # the first task only
    screenshot(page, "review_prefetched")
    assert not page.errors


def test_edit_mode_has_the_editors_tools_and_the_accepted_annotation_holds_the_edit(
    browser, live_server, review_world, run_worker,
):
    world, page = open_disputed(browser, live_server, review_world, run_worker, 1)
    picture = page.evaluate("window.jointlyReview.picture")
    consensus = picture["consensus"]["instances"][0]["keypoints"]
    assert all(consensus[3 * j + 2] == 2 for j in range(17))
    stage = page.locator("#stage")
    stage.focus()
    page.keyboard.press("e")
    assert "editor's tools" in page.locator("#mode-box").inner_text()
    scale = page.evaluate("window.jointlyReview.viewport.scale")

    # Drag the nose 20 screen px to the right.
    drag_right(page, *screen_point(page, consensus[0], consensus[1]), 20)
    # Click the left wrist to select it, and set it occluded (labeled, not visible) with the editor's key.
    page.mouse.click(*screen_point(page, consensus[3 * LEFT_WRIST], consensus[3 * LEFT_WRIST + 1]))
    assert "left_wrist (visible)" in page.locator("#edit-selection").inner_text()
    page.keyboard.press("q")
    assert "left_wrist (occluded)" in page.locator("#edit-selection").inner_text()
    # Tab selects the next keypoint (the right wrist); O deletes it (not labeled).
    page.keyboard.press("Tab")
    page.keyboard.press("o")
    assert "right_wrist (not labeled)" in page.locator("#edit-selection").inner_text()
    # A click on an empty spot places the missing keypoint there, visible.
    place = (60.0, 400.0)
    page.mouse.click(*screen_point(page, *place))
    assert "right_wrist (visible)" in page.locator("#edit-selection").inner_text()
    edit = lambda: page.evaluate("window.jointlyReview.edit.instances[0].keypoints")  # noqa: E731
    placed = edit()
    assert placed[3 * RIGHT_WRIST + 2] == 2
    # Undo takes the placement back, redo puts it again (the editor's keys).
    page.keyboard.press("Control+z")
    assert edit()[3 * RIGHT_WRIST + 2] == 0
    page.keyboard.press("Control+Shift+z")
    assert edit() == placed
    # While editing, another decision key is refused in words rather than losing the edit.
    page.keyboard.press("a")
    assert "You are editing" in page.locator("#error-box").inner_text()
    assert not ReviewDecision.objects.filter(image=world.images[0]).exists()
    screenshot(page, "review_edit")

    page.keyboard.press("Enter")
    page.wait_for_function("window.jointlyReview.lastDecision")
    assert ReviewDecision.objects.get(image=world.images[0]).action == "edit"
    final = Annotation.objects.get(image=world.images[0], source="review").instances[0]["keypoints"]
    assert final[0] == pytest.approx(consensus[0] + 20 / scale, abs=0.6)
    assert final[1] == pytest.approx(consensus[1], abs=0.6)
    assert final[3 * LEFT_WRIST: 3 * LEFT_WRIST + 3] == pytest.approx(
        [consensus[3 * LEFT_WRIST], consensus[3 * LEFT_WRIST + 1], 1], abs=1e-3)
    assert final[3 * RIGHT_WRIST + 2] == 2
    assert final[3 * RIGHT_WRIST] == pytest.approx(place[0], abs=0.6)
    assert final[3 * RIGHT_WRIST + 1] == pytest.approx(place[1], abs=0.6)
    untouched = [j for j in range(17) if j not in (NOSE, LEFT_WRIST, RIGHT_WRIST)]
    assert [final[3 * j: 3 * j + 3] for j in untouched] == [consensus[3 * j: 3 * j + 3] for j in untouched]
    assert not page.errors
