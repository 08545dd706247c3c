"""The QA review workspace and the dashboards in a real headless Chromium, against a live server on
PostgreSQL with a real `rqworker --burst` doing the scoring.

Screenshots of each test's end state go to tests/frontend/screenshots/ (git-ignored); the README's tour
names them.
"""

from __future__ import annotations

import json

import pytest

from annotation.models import Annotation, Image
from review.models import ReviewDecision

from tests.annotation.factories import make_annotator
from tests.review.review_world import person

from .review_fixtures import can_sign_in, review_world
from .workspace_fixtures import browser, media, open_page, open_workspace, screenshot, sign_in, wait_for_task

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
__all__ = ["browser", "media", "review_world"]  # fixtures, imported for pytest

LEFT_WRIST, RIGHT_WRIST = 9, 10
SWAPPER = 1  # the second annotator mirrors left and right


def disputed(world, run_worker):
    """Three annotators label every image, the second one mirrored; scoring sends the images to review."""
    world.label_all(lambda n, image_id: [person(seed=10 * n + image_id, swapped=(n == SWAPPER))])
    assert run_worker("scoring").returncode == 0
    assert set(Image.objects.filter(project=world.project).values_list("status", flat=True)) == {"review"}


def open_review(browser, live_server, world, user=None, *, requests: list | None = None):
    """The review page of a signed-in QA lead with its first task drawn; `requests` collects every URL
    the page asks for (API calls and images), in order, from the start."""
    page = open_page(browser)
    if requests is not None:
        page.on("request", lambda request: requests.append(request.url))
    sign_in(page, live_server, (user or world.qa_lead).username)
    page.goto(f"{live_server.url}/review/{world.project.pk}/")
    page.wait_for_function("window.jointlyReview && window.jointlyReview.picture && window.jointlyReview.renderer.image")
    page.wait_for_function("window.jointlyReview.renderer.drawn.flags.length > 0 || !window.jointlyReview.picture.flags.length")
    return page


def open_disputed(browser, live_server, review_world, run_worker, n_images, **options):
    """A disputed world of n_images and the QA lead's review page on its first task."""
    world = review_world(n_images)
    can_sign_in(world.qa_lead)
    disputed(world, run_worker)
    return world, open_review(browser, live_server, world, **options)


def drag_right(page, x, y, pixels, steps=10):
    """Press at page point (x, y), move `pixels` to the right in `steps` moves, release."""
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, steps + 1):
        page.mouse.move(x + pixels * step / steps, y)
    page.mouse.up()


def screen_point(page, x, y):
    """Page coordinates of an image point as the stage shows it now."""
    box = page.locator("#stage").bounding_box()
    sx, sy = page.evaluate("([x, y]) => window.jointlyReview.viewport.toScreen(x, y)", [x, y])
    return box["x"] + sx, box["y"] + sy


def test_qa_lead_sees_the_swap_and_rejects_with_a_comment_the_annotator_sees_at_that_keypoint(
    browser, live_server, review_world, run_worker,
):
    world = review_world(1)
    swapper = world.annotators[SWAPPER]
    can_sign_in(world.qa_lead, swapper)
    disputed(world, run_worker)
    page = open_review(browser, live_server, world)

    # The three annotators by name, in their own colours, and the consensus.
    legend = page.locator("#legend li[data-annotator]")
    assert legend.count() == 3
    assert [int(x) for x in legend.evaluate_all("ls => ls.map(l => l.dataset.annotator)")] == [u.pk for u in world.annotators]
    picture = page.evaluate("window.jointlyReview.picture")
    assert len(picture["consensus"]["instances"]) == 1
    # The swap flag is drawn on the swapper's keypoints it names, where the swapper put them.
    drawn = page.evaluate("window.jointlyReview.renderer.drawn.flags")
    swaps = [f for f in drawn if f["code"] == "left_right_swap"]
    assert swaps and {f["annotator"] for f in swaps} == {swapper.pk}
    theirs = next(a for a in picture["annotators"] if a["annotator"]["id"] == swapper.pk)["instances"][0]["keypoints"]
    names = picture["skeleton"]["names"]
    for flag in swaps:
        for name, (x, y) in zip(flag["keypoints"], flag["points"]):
            j = names.index(name)
            assert (x, y) == (theirs[3 * j], theirs[3 * j + 1])
    assert any("left/right swap" in li for li in page.locator("#flag-list li").all_inner_texts())
    # Spread ellipses for the consensus keypoints, and the pairwise OKS table with the swapper low.
    ellipses = page.evaluate("window.jointlyReview.renderer.drawn.ellipses")
    assert len(ellipses) >= 10
    # Drawn from the objects' members as the API names them: all three annotators, the swapper mirrored back.
    members = picture["consensus"]["objects"][0]["members"]
    assert sorted((m["annotator"], m["flipped"]) for m in members) == sorted(
        (u.pk, n == SWAPPER) for n, u in enumerate(world.annotators))
    assert {e["points"] for e in ellipses} == {3}
    assert page.locator("#oks-table td.low").count() >= 2
    assert "submitted" in page.locator("#history").inner_text()
    screenshot(page, "review_disputed")

    # Hide annotators 1 and 3 (keys 1 and 3), so a click lands on the swapper's labels only.
    page.locator("#stage").focus()
    page.keyboard.press("1")
    page.keyboard.press("3")
    assert page.evaluate("window.jointlyReview.renderer.visible") == [False, True, False]
    page.keyboard.press("r")
    x, y = theirs[3 * LEFT_WRIST], theirs[3 * LEFT_WRIST + 1]
    page.mouse.click(*screen_point(page, x, y))
    page.wait_for_function("document.activeElement.id === 'comment-text'")
    text = "This is the right wrist: left and right are from the person's view."
    page.keyboard.type(text)
    page.keyboard.press("Enter")
    assert "left_wrist" in page.locator("#comment-list").inner_text()
    page.click("#send-back")
    page.wait_for_function("window.jointlyReview.lastDecision")
    assert Image.objects.get(pk=world.images[0].pk).status == "rework"
    decision = ReviewDecision.objects.get(image=world.images[0])
    assert decision.action == "reject" and decision.payload["annotators"] == [swapper.pk]
    screenshot(page, "review_rejected")

    # The swapper's rework screen: their labels back, the comment pinned at that keypoint.
    annotator_page = open_page(browser)
    sign_in(annotator_page, live_server, swapper.username)
    open_workspace(annotator_page, live_server, world.project)
    pins = annotator_page.evaluate("window.jointly.renderer.pins")
    assert [(p["keypoint"], p["text"]) for p in pins] == [(LEFT_WRIST, text)]
    kp = annotator_page.evaluate("window.jointly.labels.instances[0].keypoints")
    at = annotator_page.evaluate("window.jointly.renderer.pins.map(p => [p.x, p.y])")[0]
    assert at == [kp[3 * LEFT_WRIST], kp[3 * LEFT_WRIST + 1]]
    assert text in annotator_page.locator("#comment-list").inner_text()
    screenshot(annotator_page, "rework_comment")
    assert not page.errors and not annotator_page.errors


def test_accept_annotator_two_with_one_key_and_export_holds_their_points(
    browser, live_server, review_world, run_worker, tmp_path,
):
    world = review_world(1)
    can_sign_in(world.qa_lead)
    disputed(world, run_worker)
    page = open_review(browser, live_server, world)
    second = page.evaluate("window.jointlyReview.picture.annotators[1]")
    page.locator("#stage").focus()
    page.keyboard.press("Shift+Digit2")
    page.wait_for_function("window.jointlyReview.lastDecision")
    page.wait_for_selector("#message-overlay", state="visible")  # the queue is empty now
    assert "empty" in page.locator("#message-title").inner_text()
    assert page.locator("#message-overlay a").inner_text() == "Back"
    decision = ReviewDecision.objects.get(image=world.images[0])
    assert decision.action == "accept_annotation" and decision.payload["annotator"] == second["annotator"]["id"]
    assert Image.objects.get(pk=world.images[0].pk).status == "accepted"

    response = world.client(world.manager).get(f"/api/v1/projects/{world.project.pk}/export-coco/")
    assert response.status_code == 200
    coco = json.loads(b"".join(response.streaming_content))
    exported = [a["keypoints"] for a in coco["annotations"] if a["image_id"] == world.images[0].pk]
    assert exported == [inst["keypoints"] for inst in second["instances"]] and len(exported) == 1
    screenshot(page, "review_accepted")
    assert not page.errors


def test_manager_starts_a_rescore_and_watches_its_progress_bar_reach_done(browser, live_server, review_world, run_worker):
    world = review_world(2)
    can_sign_in(world.manager)
    world.label_all(lambda n, image_id: [person(seed=10 * n + image_id, swapped=(n == SWAPPER))])
    assert run_worker("scoring").returncode == 0
    page = open_page(browser)
    sign_in(page, live_server, world.manager.username)
    page.goto(f"{live_server.url}/dashboard/projects/{world.project.pk}/")
    page.wait_for_function("window.jointlyDashboard.drawn.length >= 6")
    # No project report yet: the per-keypoint chart says how to get one.
    assert page.locator("#keypoints-missing").is_visible()
    histogram = page.evaluate("document.getElementById('chart-histogram').data[0].y")
    assert sum(histogram) == 2

    page.click("#rescore")
    row = page.locator("#jobs .job")
    row.wait_for()
    assert row.get_attribute("data-state") == "queued"
    assert float(row.locator("progress").evaluate("p => p.value")) == 0
    assert run_worker("scoring").returncode == 0  # the real worker runs the job while the page polls
    page.wait_for_selector("#jobs .job[data-state='finished']")
    assert float(row.locator("progress").evaluate("p => p.value")) == 1
    # Finished: the charts are drawn again, now with the project report's per-keypoint agreement.
    page.wait_for_function("document.getElementById('chart-keypoints').data && document.getElementById('chart-keypoints').data[0].y.length === 17")
    screenshot(page, "dashboard_project")
    assert not page.errors


def test_vendor_manager_sees_their_annotators_and_nobody_elses(browser, live_server, review_world, run_worker):
    from annotation.models import Vendor

    world = review_world(1, annotators=2)
    other_vendor = Vendor.objects.create(name="Elsewhere Ltd")
    world.project.vendors.add(other_vendor)
    stranger = make_annotator(world.project, other_vendor)
    world.annotators.append(stranger)
    can_sign_in(world.vendor_manager)
    world.label_all(lambda n, image_id: [person(seed=10 * n + image_id)])
    assert run_worker("scoring").returncode == 0
    page = open_page(browser)
    sign_in(page, live_server, world.vendor_manager.username)
    page.click("a.annotators-link")
    page.wait_for_function("window.jointlyDashboard && window.jointlyDashboard.ready")
    rows = page.locator("#annotator-table tbody tr").evaluate_all("rs => rs.map(r => r.dataset.annotator)")
    assert sorted(rows) == sorted(u.username for u in world.annotators[:2])
    # Nothing about the other vendor's annotator anywhere in the page, its data or its scripts' state.
    assert stranger.username not in page.content()
    assert stranger.username not in json.dumps(page.evaluate("window.jointlyDashboard.rows"))
    # Their timesheet link carries the dates; the CSV it serves is the vendor's.
    href = page.locator("a.timesheet").get_attribute("href")
    assert f"/api/v1/vendors/{world.vendor.pk}/timesheet/?date_from=" in href
    csv = page.evaluate("url => fetch(url).then(r => r.text())", href)
    assert world.annotators[0].username in csv and stranger.username not in csv
    # The project dashboard is not theirs (404, as the agreement API answers them).
    response = page.goto(f"{live_server.url}/dashboard/projects/{world.project.pk}/")
    assert response.status == 404
    page.go_back()
    screenshot(page, "dashboard_vendor_annotators")
    assert not page.errors


def test_edit_a_copy_of_the_consensus_then_a_409_is_explained_and_nothing_typed_is_lost(
    browser, live_server, review_world, run_worker,
):
    from django.utils import timezone

    from review.models import ReviewTask

    world, page = open_disputed(browser, live_server, review_world, run_worker, 2)
    first = page.evaluate("window.jointlyReview.picture")
    nose = first["consensus"]["instances"][0]["keypoints"][:2]

    # Edit: the editor's drag on a copy of the consensus; Enter accepts the edit.
    page.locator("#stage").focus()
    page.keyboard.press("e")
    assert "Editing a copy of the consensus" in page.locator("#mode-box").inner_text()
    x0, y0 = screen_point(page, *nose)
    scale = page.evaluate("window.jointlyReview.viewport.scale")
    drag_right(page, x0, y0, 20)
    page.keyboard.press("Enter")
    page.wait_for_function("id => window.jointlyReview.picture && window.jointlyReview.picture.task.id !== id", arg=first["task"]["id"])
    decision = ReviewDecision.objects.get(image_id=first["image"]["id"])
    assert decision.action == "edit"
    final = Annotation.objects.get(image_id=first["image"]["id"], source="review").instances[0]["keypoints"]
    assert final[0] == pytest.approx(nose[0] + 20 / scale, abs=0.6) and final[1] == pytest.approx(nose[1], abs=0.6)
    assert final[3:] == first["consensus"]["instances"][0]["keypoints"][3:]  # only the dragged point moved

    # The second task: a comment pinned and more text typed, then someone else decides it first.
    second = page.evaluate("window.jointlyReview.picture")
    # It was leased ahead; the page's background lease-ahead call makes it current (and renews its lease).
    page.wait_for_function("window.jointlyReview.ahead && !window.jointlyReview.ahead.pending")
    page.keyboard.press("r")
    theirs = second["annotators"][SWAPPER]["instances"][0]["keypoints"]
    page.keyboard.press("1")
    page.keyboard.press("3")
    page.mouse.click(*screen_point(page, theirs[3 * RIGHT_WRIST], theirs[3 * RIGHT_WRIST + 1]))
    page.wait_for_function("document.activeElement.id === 'comment-text'")
    page.keyboard.type("Mirrored: this is the left wrist.")
    page.keyboard.press("Enter")
    page.keyboard.type("And the knees too")
    ReviewTask.objects.filter(pk=second["task"]["id"]).update(lease_expires_at=timezone.now())
    taken = world.decide(second["task"]["id"], {"action": "accept_consensus", "version": second["version"]}, user=world.manager)
    assert taken.status_code == 200, taken.content
    page.click("#send-back")
    page.wait_for_selector("#error-box:not([hidden])")
    words = page.locator("#error-box").inner_text()
    assert "already decided" in words and "comments and edits are still here" in words
    assert "Mirrored: this is the left wrist." in page.locator("#comment-list").inner_text()
    assert page.locator("#comment-text").input_value() == "And the knees too"
    assert ReviewDecision.objects.filter(image_id=second["image"]["id"]).count() == 1  # the manager's only
    screenshot(page, "review_conflict")
    assert not page.errors
