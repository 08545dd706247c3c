"""The annotator workspace in a real headless Chromium against a live server on PostgreSQL.

Each test saves a screenshot under tests/frontend/screenshots/ (git-ignored):
what a person sees at the end of the test.
"""

from __future__ import annotations

import pytest

from annotation.models import Annotation, Assignment
from frontend.keymap import KEYMAP

from .workspace_fixtures import (
    COCO17_POSITIONS, browser, labels_state, make_setup, marker_centres, media, open_page, screenshot, sign_in,
    wait_for_task, workspace_page,
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
    # The instructions stay one key away.
    page.keyboard.press("i")
    assert page.locator("#instructions-overlay").is_visible() and page.locator("#acknowledge").is_hidden()
    page.keyboard.press("Escape")
    assert page.locator("#instructions-overlay").is_hidden()

    # Every action has a button whose tooltip names its key.
    titles = page.eval_on_selector_all("button[data-action]", "bs => bs.map(b => [b.dataset.action, b.title])")
    assert {row["action"] for row in KEYMAP} <= {a for a, _ in titles}
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
    centres = marker_centres(page, [9])
    page.click(f"#keypoint-list li[data-index='{LEFT_WRIST}']")
    page.keyboard.press("o")  # unlabel the left wrist: it is next again, with the instructions' words on it
    assert page.locator("#next-name").inner_text() == "left wrist"
    assert page.locator("#next-example").inner_text() == "The bony bump on the thumb side."
    page.mouse.click(*centres[9])
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
    wait_until_stored(page)
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


def wait_until_stored(page):
    """The next image shows before the submit's answer comes; wait for that answer."""
    page.wait_for_function("!window.jointly.busy")


def place(page, count: int, *, from_index: int = 0):
    centres = marker_centres(page, range(from_index, from_index + count))
    for i in range(from_index, from_index + count):
        page.mouse.click(*centres[i])


def placed_count(instances) -> int:
    return sum(1 for inst in instances for v in inst["keypoints"][2::3] if v > 0)


def test_a_draft_survives_a_reload(browser, live_server, make_setup):
    setup = make_setup(images=1, instructions=False)
    page = workspace_page(browser, live_server, setup.project)
    task_id = page.evaluate("window.jointly.task.id")
    place(page, 4)
    before = labels_state(page)
    page.keyboard.press("Control+s")
    page.wait_for_function("document.getElementById('draft-state').textContent.startsWith('saved')")
    draft = Assignment.objects.get(pk=task_id).draft
    assert placed_count(draft["instances"]) == 4

    page.reload()
    assert wait_for_task(page) == task_id
    assert labels_state(page) == before
    assert page.locator("#next-name").inner_text() == "right ear"

    # In another browser (no copy in its storage) the draft comes from the server.
    elsewhere = workspace_page(browser, live_server, setup.project)
    assert elsewhere.evaluate("window.jointly.task.id") == task_id
    assert labels_state(elsewhere) == before
    assert elsewhere.locator("#draft-state").inner_text() == "Restored your saved draft."
    screenshot(elsewhere, "workspace_draft_restored")
    assert page.errors == [] and elsewhere.errors == []


def test_invalid_labels_are_explained_and_kept(browser, live_server, make_setup):
    setup = make_setup(images=2, instructions=False)
    page = workspace_page(browser, live_server, setup.project)
    task_id = page.evaluate("window.jointly.task.id")
    # The next image is already here, so submit shows it at once; the refusal brings the person back.
    page.wait_for_function("window.jointly.ahead && window.jointly.ahead.ready")
    # A click on the dark stage beside the image: a nose 12 px left of the image.
    left, top = page.evaluate("window.jointly.viewport.toScreen(-12, 100)")
    box = page.locator("#stage").bounding_box()
    assert 0 < left < box["width"] and 0 < top < box["height"]
    page.mouse.click(box["x"] + left, box["y"] + top)
    page.keyboard.press("Enter")
    error = page.locator("#error-box")
    error.wait_for(state="visible")
    assert "Some labels are not valid yet, so nothing was stored" in error.inner_text()
    assert "outside the 320x240 image" in error.inner_text()
    assert page.evaluate("window.jointly.task.id") == task_id
    assert placed_count(labels_state(page)) == 1
    assert not Annotation.objects.filter(assignments__id=task_id).exists()
    screenshot(page, "workspace_validation_error")
    # Fixed (the nose moved onto the image), it goes through, and the waiting image comes back.
    page.keyboard.press("Control+z")
    place(page, 1)
    page.keyboard.press("Enter")
    wait_for_task(page, not_id=task_id)
    wait_until_stored(page)
    assert Assignment.objects.get(pk=task_id).state == "submitted"
    assert page.errors == []


def test_a_lease_lost_to_expiry_is_reported_and_the_work_kept(browser, live_server, make_setup, django_user_model):
    from datetime import timedelta

    from django.utils import timezone
    from rest_framework.test import APIClient

    setup = make_setup(images=1, instructions=False, annotators=("anna", "bert"))
    page = workspace_page(browser, live_server, setup.project)
    task_id = page.evaluate("window.jointly.task.id")
    place(page, 3)

    # The lease runs out and the image goes to someone else.
    Assignment.objects.filter(pk=task_id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    setup.images[0].__class__.objects.filter(pk=setup.images[0].pk).update(next_lease_expiry=timezone.now() - timedelta(seconds=1))
    bert = APIClient()
    bert.force_authenticate(setup.annotators[1])
    assert bert.post(f"/api/v1/projects/{setup.project.pk}/tasks/next/").json()["image"]["id"] == setup.images[0].pk

    page.keyboard.press("Enter")
    error = page.locator("#error-box")
    error.wait_for(state="visible")
    wait_until_stored(page)  # the submit's own answer is in (a draft save may have met the 409 first)
    words = error.inner_text()
    assert "This image is no longer yours to label" in words and "given to another annotator" in words
    assert "Your 3 placed keypoints are still on screen and kept in this browser" in words
    assert placed_count(labels_state(page)) == 3
    kept = page.evaluate(f"JSON.parse(localStorage.getItem('jointly.work.{task_id}'))")
    assert kept["note"] == "lease lost" and placed_count(kept["draft"]["instances"]) == 3
    assert page.locator("#lease-state").inner_text() == "lost"
    screenshot(page, "workspace_lease_lost")
    assert page.errors == []


def test_the_next_image_is_leased_and_fetched_before_submit(browser, live_server, make_setup):
    setup = make_setup(images=3, instructions=False)
    page = open_page(browser)
    network = []
    page.on("request", lambda request: network.append((request.method, request.url)))
    workspace_page(browser, live_server, setup.project, page=page)
    first_id = page.evaluate("window.jointly.task.id")
    page.wait_for_function("window.jointly.ahead && window.jointly.ahead.ready")
    ahead_id = page.evaluate("window.jointly.ahead.body.id")
    ahead_image = page.evaluate("window.jointly.ahead.body.image.url")
    # Through the access-checked file endpoint, with the session cookie (there is no media route).
    assert ahead_image == f"{live_server.url}/api/v1/images/{page.evaluate('window.jointly.ahead.body.image.id')}/file/"
    place(page, 2)
    page.keyboard.press("Enter")
    assert wait_for_task(page, not_id=first_id) == ahead_id
    wait_until_stored(page)

    urls = [f"{method} {url}" for method, url in network]
    submit_at = next(i for i, u in enumerate(urls) if u.endswith(f"/assignments/{first_id}/submit/"))
    assert any(u.endswith("/tasks/next/?ahead=1") for u in urls[:submit_at])
    assert f"GET {ahead_image}" in urls[:submit_at]
    # Between the submit and the next image on screen the page asked for no lease.
    asked = page.evaluate(
        "[...window.jointly.requests].filter(r => r.url.includes('/tasks/next/'))"
        ".map(r => r.at).filter(at => at > window.jointly.requests.find(r => r.url.endsWith('/submit/')).at)"
    )
    shown_at = page.evaluate("window.jointly.shownAt")
    assert all(at > shown_at for at in asked)
    assert Assignment.objects.get(pk=first_id).state == "submitted"
    page.wait_for_function("window.jointly.timings.length === 1")
    screenshot(page, "workspace_prefetched_next")
    assert page.errors == []


def test_a_submit_while_the_lease_ahead_call_is_in_flight_waits_for_it(browser, live_server, make_setup):
    """A plain next sent beside a lease-ahead call could skip the image the other has locked and find
    nothing left; after submit the page waits for the call in flight and shows what it leased."""
    setup = make_setup(images=3, instructions=False)
    page = open_page(browser)
    held = []

    def leases_ahead(url):
        return url.endswith("/tasks/next/?ahead=1")

    def hold(route):
        held.append(route)

    page.route(leases_ahead, hold)
    workspace_page(browser, live_server, setup.project, page=page)
    first_id = page.evaluate("window.jointly.task.id")
    page.wait_for_function("window.jointly.ahead && window.jointly.ahead.pending")
    place(page, 2)
    page.keyboard.press("Enter")
    page.wait_for_function("window.jointly.requests.some(r => r.url.endsWith('/submit/'))")
    for _ in range(50):  # the submit's answer came back
        if Assignment.objects.get(pk=first_id).state == "submitted":
            break
        page.wait_for_timeout(100)
    page.wait_for_timeout(500)
    plain = "[...window.jointly.requests].filter(r => r.url.endsWith('/tasks/next/')).length"
    assert page.evaluate(plain) == 1  # the first task's only: nothing sent beside the held call
    assert page.evaluate("window.jointly.task.id") == first_id

    page.wait_for_timeout(0)  # let Playwright hand the held request over
    assert len(held) == 1
    held[0].continue_()
    page.unroute(leases_ahead)
    shown = wait_for_task(page, not_id=first_id)
    current = Assignment.objects.get(pk=shown)
    assert current.state == "leased" and not current.ahead and current.annotator == setup.annotators[0]
    assert page.evaluate(plain) == 1
    assert page.errors == []


def test_annotator_a_never_receives_annotator_b_points(browser, live_server, make_setup):
    from rest_framework.test import APIClient

    setup = make_setup(images=1, replicas=2, instructions=False, annotators=("anna", "bert"))
    bert = APIClient()
    bert.force_authenticate(setup.annotators[1])
    task = bert.post(f"/api/v1/projects/{setup.project.pk}/tasks/next/").json()
    marks = [123.456, 77.125, 201.375, 55.625]
    keypoints = [0.0] * 51
    keypoints[0:3] = [marks[0], marks[1], 2]
    keypoints[3:6] = [marks[2], marks[3], 1]
    submitted = bert.post(
        f"/api/v1/assignments/{task['id']}/submit/",
        {"instances": [{"bbox": [50, 70, 160, 20], "keypoints": keypoints}], "active_ms": 1000}, format="json",
    )
    assert submitted.status_code == 200

    page = open_page(browser)
    # The listener only keeps the response (reading a body inside it races the next event); bodies are read after.
    responses = []
    page.on("response", lambda response: responses.append(response) if "/api/" in response.url or "/label/" in response.url else None)
    workspace_page(browser, live_server, setup.project, page=page)
    assert page.evaluate("window.jointly.task.image.id") == task["image"]["id"]  # the same image
    place(page, 2)
    with page.expect_response(lambda r: r.request.method == "PUT" and "/api/v1/assignments/" in r.url):
        page.keyboard.press("Control+s")
    page.wait_for_function("document.getElementById('draft-state').textContent.startsWith('saved')")
    bodies = [(response.url, response.text()) for response in responses]
    assert len(bodies) >= 3  # the page, tasks/next, the draft save
    for url, body in bodies:
        for mark in marks:
            assert str(mark) not in body, f"{url} carries annotator B's {mark}"
    html = page.content()
    state = str(page.evaluate("JSON.stringify(window.jointly.task)")) + str(labels_state(page))
    for mark in marks:
        assert str(mark) not in html and str(mark) not in state
    screenshot(page, "workspace_blind")


def test_prelabels_are_a_starting_point_and_review_comments_are_pinned(browser, live_server, make_setup):
    from models_registry.models import ModelVersion

    setup = make_setup(images=1, instructions=False)
    model = ModelVersion.objects.create(name="rtmpose-test", skeleton=setup.project.skeleton)
    setup.project.prelabel_model = model
    setup.project.save(update_fields=["prelabel_model"])
    suggestion = [0.0] * 51
    for i, (x, y) in enumerate(COCO17_POSITIONS):
        suggestion[3 * i:3 * i + 3] = [x + 3, y + 2, 2]
    Annotation.objects.create(
        image=setup.images[0], source=Annotation.Source.MODEL, pose_model=model,
        instances=[{"bbox": [100, 20, 130, 215], "keypoints": suggestion, "score": 0.9}],
    )

    page = open_page(browser)
    # The review stage adds `review_comments` to a rework task; until it does, the test adds them
    # to the API's answer on its way to the page.
    comments = [
        {"instance": 0, "keypoint": 9, "x": None, "y": None, "text": "The wrist is one joint lower.", "author": "qa1"},
        {"instance": 0, "keypoint": 0, "x": 150.0, "y": 30.0, "text": "Nose hidden by the hand?", "author": "qa2"},
    ]

    def add_comments(route):
        response = route.fetch()
        if response.status != 200 and response.status != 201:
            return route.fulfill(response=response)
        route.fulfill(response=response, json={**response.json(), "review_comments": comments})

    page.route("**/tasks/next/", add_comments)
    workspace_page(browser, live_server, setup.project, page=page)
    banner = page.locator("#prelabel-box")
    assert "drawn dashed (1 instance(s))" in banner.inner_text() and "Press A" in banner.inner_text()
    assert labels_state(page) == []
    assert page.locator("#comment-list li").all_inner_texts() == [
        "1. left wrist, instance 1: The wrist is one joint lower. (qa1)",
        "2. nose, instance 1: Nose hidden by the hand? (qa2)",
    ]
    page.keyboard.press("a")
    assert banner.is_hidden()
    [accepted] = labels_state(page)
    assert accepted["keypoints"] == suggestion
    # Adjust the suggested nose onto the marker, then submit.
    centre = marker_centres(page, [0])[0]
    start = page.evaluate("window.jointly.viewport.toScreen(...window.jointly.labels.instances[0].keypoints.slice(0, 2))")
    box = page.locator("#stage").bounding_box()
    page.mouse.move(box["x"] + start[0], box["y"] + start[1])
    page.mouse.down()
    page.mouse.move(*centre, steps=4)
    page.mouse.up()
    screenshot(page, "workspace_prelabels_and_comments")
    page.keyboard.press("Enter")
    page.wait_for_function("window.jointly.requests.some(r => r.url.endsWith('/submit/'))")
    page.locator("#message-overlay").wait_for(state="visible")
    assert page.locator("#message-overlay a").inner_text() == "Back to your projects"
    [stored] = Annotation.objects.get(image=setup.images[0], source=Annotation.Source.ANNOTATOR).instances
    assert stored["keypoints"][0:2] == [pytest.approx(COCO17_POSITIONS[0][0], abs=0.5), pytest.approx(COCO17_POSITIONS[0][1], abs=0.5)]
    assert stored["keypoints"][3:] == suggestion[3:]
    assert page.errors == []


def test_boxes_the_key_sheet_own_keys_and_skip(browser, live_server, make_setup):
    setup = make_setup(images=3, instructions=False)
    page = workspace_page(browser, live_server, setup.project)
    first_id = page.evaluate("window.jointly.task.id")
    place(page, 3)
    box = page.locator("#stage").bounding_box()

    # B, then drag: the box is where the drag went, in image pixels.
    corners = [page.evaluate(f"window.jointly.viewport.toScreen({x}, {y})") for x, y in ((100.25, 20.5), (220.75, 230.25))]
    page.keyboard.press("b")
    page.mouse.move(box["x"] + corners[0][0], box["y"] + corners[0][1])
    page.mouse.down()
    page.mouse.move(box["x"] + corners[1][0], box["y"] + corners[1][1], steps=5)
    page.mouse.up()
    assert labels_state(page)[0]["bbox"] == pytest.approx([100.25, 20.5, 120.5, 209.75], abs=0.01)
    # Shift+B: the box around the keypoints with padding (here the 4 px minimum).
    page.keyboard.press("Shift+B")
    xs = [COCO17_POSITIONS[i][0] for i in range(3)]
    ys = [COCO17_POSITIONS[i][1] for i in range(3)]
    pad = max(4, 0.1 * max(max(xs) - min(xs), max(ys) - min(ys)))
    expected = [min(xs) - pad, min(ys) - pad, max(xs) - min(xs) + 2 * pad, max(ys) - min(ys) + 2 * pad]
    assert labels_state(page)[0]["bbox"] == pytest.approx(expected, abs=0.5)
    page.keyboard.press("Control+z")
    assert labels_state(page)[0]["bbox"] == pytest.approx([100.25, 20.5, 120.5, 209.75], abs=0.01)

    # N starts a second instance, Delete removes it again.
    page.keyboard.press("n")
    assert len(labels_state(page)) == 2 and page.locator("#next-name").inner_text() == "nose"
    page.keyboard.press("Delete")
    assert len(labels_state(page)) == 1

    # ? shows the one key table; a person's own key for an action is kept for them.
    page.keyboard.press("?")
    sheet = page.locator("#shortcuts-overlay")
    assert sheet.is_visible()
    assert sheet.locator("tr[data-action='flip'] kbd").inner_text() == "F"
    sheet.locator("tr[data-action='flip'] kbd").click()
    page.keyboard.press("x")
    assert sheet.locator("tr[data-action='flip'] kbd").inner_text() == "X"
    page.keyboard.press("Escape")
    assert sheet.is_hidden()
    assert page.get_attribute("button[data-action='flip']", "title").endswith("(X)")
    before = labels_state(page)[0]["keypoints"]
    page.keyboard.press("x")
    flipped_now = labels_state(page)[0]["keypoints"]
    assert flipped_now[3:6] == before[6:9] and flipped_now[6:9] == before[3:6]  # the eyes swapped

    page.keyboard.press("Shift+S")  # skip: the image goes back, the next one comes
    second_id = wait_for_task(page, not_id=first_id)
    wait_until_stored(page)
    assert Assignment.objects.get(pk=first_id).state == "released"
    page.reload()
    assert wait_for_task(page) == second_id
    assert page.get_attribute("button[data-action='flip']", "title").endswith("(X)")
    screenshot(page, "workspace_keys_rebound")
    assert page.errors == []


def test_active_clock_follows_the_servers_idle_rule(browser, live_server, make_setup):
    """Time counts while there was input within the idle limit, and stops idle_limit after the last one."""
    setup = make_setup(images=1, instructions=False)
    page = workspace_page(browser, live_server, setup.project)
    totals = page.evaluate("""async () => {
        const { ActiveClock } = await import('/static/frontend/editor/session.js');
        let now = 0;
        const clock = new ActiveClock(60, 5000, () => now);   // idle limit 60 s, 5 s already on the task
        const seen = [];
        now = 20000; clock.input(); seen.push(clock.ms);       // 20 s of work
        now = 50000; seen.push(clock.ms, clock.idle);          // 30 s more, within the limit
        now = 200000; seen.push(clock.ms, clock.idle);         // away: counts up to 60 s after the input, then pauses
        now = 260000; clock.input(); now = 270000; seen.push(clock.ms, clock.idle);  // back: 10 s more
        return seen;
    }""")
    assert totals == [25000, 55000, False, 85000, True, 95000, False]
