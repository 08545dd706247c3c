"""tasks/next and submit with an API token: the fast lane (annotation/api/fast_lane.py).

The lane answers successes itself and hands everything else to the API
views. These tests pin that it answers with the same bytes, that every
refusal is still the API view's (DRF's answers for bad credentials,
sessions with their CSRF check, the serializers' 400s, conflicts), that
nothing is written for a refused caller, and the number of statements a
request costs (the reason for the lane).
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from annotation.models import Annotation, Assignment, Image
from jointly.jobs.models import JobRun

from .factories import client_for, instance, make_world, with_instructions

pytestmark = pytest.mark.django_db

#: Missing or bad credentials: 401 with a `WWW-Authenticate: Token` challenge (tokens are
#: the first authentication class, so DRF has a challenge to send).
BAD_CREDENTIALS = 401


def next_url(world) -> str:
    return f"/api/v1/projects/{world.project.pk}/tasks/next/"


def client_with_header(value: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=value)
    return client


def statements_of(request) -> list[str]:
    """The SQL a request ran, without the savepoints the test's transaction adds."""
    with CaptureQueriesContext(connection) as captured:
        response = request()
    return response, [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]


def test_next_with_a_token_is_two_statements_the_context_and_the_lease():
    world = make_world(images=3, replicas=2)
    client_for(world["annotator_b"], token=True).post(next_url(world))  # fills the per-process skeleton cache
    client = client_for(world["annotator_a"], token=True)
    response, statements = statements_of(lambda: client.post(next_url(world)))
    assert response.status_code == 201, response.content
    assert len(statements) == 2, statements
    assert "authtoken_token" in statements[0]
    assert Assignment.objects.get(pk=response.json()["id"]).annotator == world["annotator_a"]


def test_a_submit_that_is_not_the_last_replica_is_two_statements():
    world = make_world(images=1, replicas=3)
    first = client_for(world["annotator_b"], token=True)  # fills the per-process skeleton caches
    warm = first.post(next_url(world)).json()
    first.post(f"/api/v1/assignments/{warm['id']}/submit/", {"instances": [instance()]}, format="json")
    client = client_for(world["annotator_a"], token=True)
    lease = client.post(next_url(world)).json()
    response, statements = statements_of(lambda: client.post(
        f"/api/v1/assignments/{lease['id']}/submit/", {"instances": [instance()], "active_ms": 100}, format="json"
    ))
    assert response.status_code == 200, response.content
    assert len(statements) == 2, [sql[:80] for sql in statements]
    image = Image.objects.get(pk=lease["image"]["id"])
    assert (image.slots_taken, image.submitted_count, image.status) == (2, 2, "annotating")
    annotation = Annotation.objects.get(pk=response.json()["annotation"])
    assert annotation.annotator == world["annotator_a"] and annotation.image_id == image.pk
    assert not JobRun.objects.filter(func="review.jobs.score_image").exists()


def test_the_last_replica_by_token_starts_scoring_once():
    world = make_world(images=1, replicas=2)
    for annotator in ("annotator_a", "annotator_b"):
        client = client_for(world[annotator], token=True)
        lease = client.post(next_url(world)).json()
        response = client.post(f"/api/v1/assignments/{lease['id']}/submit/", {"instances": [instance()]}, format="json")
        assert response.status_code == 200, response.content
    image = world.images[0]
    image.refresh_from_db()
    assert image.submitted_count == 2 and image.status != "annotating"
    assert [run.kwargs for run in JobRun.objects.filter(func="review.jobs.score_image")] == [{"image_id": image.pk}]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Token not-a-token", "Invalid token."),
        ("Token", "Invalid token header. No credentials provided."),
        ("Token two words", "Invalid token header. Token string should not contain spaces."),
    ],
)
def test_bad_token_headers_get_drfs_answer_and_nothing_is_leased(header, message):
    world = make_world(images=1, replicas=1)
    response = client_with_header(header).post(next_url(world))
    assert response.status_code == BAD_CREDENTIALS and response.json()["detail"] == message
    assert not Assignment.objects.exists()


def test_a_deactivated_annotators_token_no_longer_works_anywhere_on_the_hot_path():
    world = make_world(images=1, replicas=1)
    user = world["annotator_a"]
    client = client_for(user, token=True)
    lease = client.post(next_url(world)).json()
    user.is_active = False
    user.save(update_fields=["is_active"])
    for method, url, payload in [
        ("post", next_url(world), None),
        ("put", f"/api/v1/assignments/{lease['id']}/", {"draft": {"x": 1}}),
        ("post", f"/api/v1/assignments/{lease['id']}/heartbeat/", {"active_ms": 5}),
        ("post", f"/api/v1/assignments/{lease['id']}/submit/", {"instances": [instance()]}),
    ]:
        response = getattr(client, method)(url, payload, format="json")
        assert response.status_code == BAD_CREDENTIALS, url
        assert response.json()["detail"] == "User inactive or deleted.", url
    assert Assignment.objects.get(pk=lease["id"]).state == "leased" and not Annotation.objects.exists()


def test_another_annotators_token_finds_no_such_assignment():
    world = make_world(images=2, replicas=2)
    lease = client_for(world["annotator_a"], token=True).post(next_url(world)).json()
    other = client_for(world["annotator_b"], token=True)
    response = other.post(f"/api/v1/assignments/{lease['id']}/submit/", {"instances": [instance()]}, format="json")
    assert response.status_code == 404
    assert Assignment.objects.get(pk=lease["id"]).state == "leased" and not Annotation.objects.exists()


def test_a_token_of_someone_not_staffed_gets_403_or_404_as_before():
    world = make_world(images=1, replicas=1)
    assert client_for(world["vendor_manager_a"], token=True).post(next_url(world)).status_code == 403
    assert client_for(world["outsider"], token=True).post(next_url(world)).status_code == 404


def test_a_session_still_works_and_still_needs_its_csrf_token():
    world = make_world(images=1, replicas=1)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world["annotator_a"])
    refused = client.post(next_url(world))
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert not Assignment.objects.exists()
    client.get("/admin/login/")  # a page with a form sets the csrftoken cookie, as the workspace's would
    response = client.post(next_url(world), HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    assert response.status_code == 201, response.content
    assert Assignment.objects.get(pk=response.json()["id"]).annotator == world["annotator_a"]


def test_the_viewsets_other_actions_authenticate_the_token_as_usual():
    world = make_world(images=1, replicas=1)
    client = client_for(world["annotator_a"], token=True)
    lease = client.post(next_url(world)).json()
    listed = client.get("/api/v1/assignments/")
    assert listed.status_code == 200 and [a["id"] for a in listed.json()["results"]] == [lease["id"]]
    refused = client_with_header("Token nope").get("/api/v1/assignments/")
    assert refused.status_code == BAD_CREDENTIALS and refused.json()["detail"] == "Invalid token."


def test_the_lane_answers_with_the_same_body_as_the_api_view():
    world = make_world(images=2, replicas=2)
    by_token = client_for(world["annotator_a"], token=True)  # the lane
    by_view = client_for(world["annotator_b"])  # forced authentication: always the API view
    lane, view = by_token.post(next_url(world)), by_view.post(next_url(world))
    assert lane.status_code == view.status_code == 201
    assert lane["Content-Type"] == view["Content-Type"] == "application/json"
    lane_task, view_task = lane.json(), view.json()
    assert lane_task.keys() == view_task.keys()
    assert lane_task["skeleton"] == view_task["skeleton"] and lane_task["instructions"] == view_task["instructions"]
    assert lane_task["image"]["url"].startswith("http://testserver/")
    assert lane_task["image"]["id"] == view_task["image"]["id"]  # closest to completion first
    payload = {"instances": [instance()], "active_ms": 1000}
    lane = by_token.post(f"/api/v1/assignments/{lane_task['id']}/submit/", payload, format="json")
    view = by_view.post(f"/api/v1/assignments/{view_task['id']}/submit/", payload, format="json")
    assert lane.status_code == view.status_code == 200
    assert lane.json().keys() == view.json().keys()
    replay = by_token.post(f"/api/v1/assignments/{lane_task['id']}/submit/", payload, format="json")
    assert replay.json() == lane.json() and replay["Idempotent-Replayed"] == "true"
    # Both annotators' labels are stored, so the image went to scoring.
    assert Image.objects.get(pk=lane_task["image"]["id"]).status != "annotating"


@pytest.mark.parametrize(
    ("body", "detail", "field"),
    [
        ('{"instances": [], "active_ms": NaN}', "JSON parse error", None),  # DRF's parser refuses NaN
        ('{"instances": [', "JSON parse error", None),
        ('{"instances": [], "active_ms": true}', "Invalid input. active_ms:", "active_ms"),
        ('{"instances": [], "active_ms": -1}', "Invalid input. active_ms:", "active_ms"),
        ('{"instances": {"bbox": [1, 2, 3, 4]}}', "Invalid input. instances: Expected a list", "instances"),
        ('{"active_ms": 5}', "Invalid input. instances: This field is required.", "instances"),
        ('[1, 2]', "Invalid input. Invalid data. Expected a dictionary", "non_field_errors"),
    ],
)
def test_input_the_serializer_refuses_gets_the_api_views_400(body, detail, field):
    world = make_world(images=1, replicas=1)
    client = client_for(world["annotator_a"], token=True)
    lease = client.post(next_url(world)).json()
    response = client.post(f"/api/v1/assignments/{lease['id']}/submit/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["detail"].startswith(detail), answer
    assert list(answer["errors"]) == ([field] if field else []), answer
    assert Assignment.objects.get(pk=lease["id"]).state == "leased" and not Annotation.objects.exists()


def test_labels_the_skeleton_refuses_and_a_changed_resubmit_get_the_api_views_answers():
    world = make_world(images=1, replicas=1)
    client = client_for(world["annotator_a"], token=True)
    lease = client.post(next_url(world)).json()
    url = f"/api/v1/assignments/{lease['id']}/submit/"
    bad = client.post(url, {"instances": [{"bbox": [0, 0, 10, 10], "keypoints": [1, 1, 2]}]}, format="json")
    assert bad.status_code == 400 and "expected 17 keypoints" in str(bad.json()["errors"]["instances"])
    assert client.post(url, {"instances": [instance()]}, format="json").status_code == 200
    changed = client.post(url, {"instances": [instance(x=200)]}, format="json")
    assert changed.status_code == 409 and "already submitted with different instances" in changed.json()["detail"]
    assert Annotation.objects.get(source="annotator").instances[0]["keypoints"][0] == 100.0


def test_an_unacknowledged_instructions_version_gets_the_api_views_409():
    world = make_world(images=1, replicas=1)
    with_instructions(world.project)
    response = client_for(world["annotator_a"], token=True).post(next_url(world))
    assert response.status_code == 409 and response.json()["errors"]["instructions"]["version"] == 1
    assert not Assignment.objects.exists()


def test_a_host_outside_allowed_hosts_is_refused_on_the_lane_too(settings):
    settings.ALLOWED_HOSTS = ["jointly.example"]
    world = make_world(images=1, replicas=1)
    response = client_for(world["annotator_a"], token=True).post(next_url(world), HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert not Assignment.objects.exists()


def test_the_lanes_writes_count_toward_the_callers_write_rate(monkeypatch):
    """One write rate per user, whichever path answers: the lane's requests count, and once the
    rate is spent the lane steps aside and the API view's throttle answers 429."""
    from django.urls import resolve
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, "write": "3/min"})
    world = make_world(images=2, replicas=1)
    views = {resolve(url).func.cls for url in (next_url(world), "/api/v1/assignments/1/submit/")}
    dispatched = []
    for view in views:
        original = view.dispatch
        monkeypatch.setattr(view, "dispatch",
                            lambda self, request, *a, _original=original, **kw: dispatched.append(request.path)
                            or _original(self, request, *a, **kw))
    client = client_for(world["annotator_a"], token=True)
    lease = client.post(next_url(world))  # 1, by the lane
    assert lease.status_code == 201 and dispatched == []
    url = f"/api/v1/assignments/{lease.json()['id']}/"
    assert client.put(url, {"draft": {"x": 1}}, format="json").status_code == 200  # 2, by the API view
    submitted = client.post(url + "submit/", {"instances": [instance()]}, format="json")  # 3, by the lane
    assert submitted.status_code == 200 and dispatched == [url]
    refused = client.post(next_url(world))  # 4: over the rate; the lane steps aside
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert dispatched == [url, next_url(world)]
    assert Assignment.objects.filter(annotator=world["annotator_a"]).count() == 1
