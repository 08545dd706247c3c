"""Submit: skeleton validation, idempotent retries, nothing half-written, honest active time."""

import pytest

from annotation.access import own_assignment_to_work_on
from annotation.models import Annotation, Assignment, Image, ProjectAnnotator
from annotation.engine import submit_assignment

from .factories import (  # noqa: F401  (fixtures: clock, engine_path runs both engine paths)
    client_for,
    clock,
    instance,
    make_world,
    engine_path,
)

pytestmark = pytest.mark.django_db


def lease_for(user, project):
    return client_for(user).post(f"/api/v1/projects/{project.pk}/tasks/next/").data


def submit(user, assignment_id, payload):
    return client_for(user).post(f"/api/v1/assignments/{assignment_id}/submit/", payload, format="json")


def test_retried_submit_returns_the_same_result_and_never_a_second_annotation():
    world = make_world(images=1, replicas=1)
    user = world["annotator_a"]
    lease = lease_for(user, world.project)
    payload = {"instances": [instance(), instance(x=300)], "active_ms": 4000}
    first = submit(user, lease["id"], payload)
    retry = submit(user, lease["id"], payload)
    assert first.status_code == retry.status_code == 200
    assert first.data == retry.data
    assert retry["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    annotation = Annotation.objects.get(image_id=lease["image"]["id"], source="annotator")
    assert first.data["annotation"] == annotation.pk and first.data["instance_count"] == 2
    assert annotation.annotator == user and len(annotation.instances) == 2
    # Integer and float spellings of the same labels are the same payload.
    same_labels = {"instances": [
        {**inst, "keypoints": [int(v) if isinstance(v, float) and v.is_integer() else v for v in inst["keypoints"]]}
        for inst in payload["instances"]
    ]}
    assert submit(user, lease["id"], same_labels).data == first.data


def test_different_labels_after_submit_are_refused_and_the_first_stay():
    world = make_world(images=1, replicas=1)
    user = world["annotator_a"]
    lease = lease_for(user, world.project)
    submit(user, lease["id"], {"instances": [instance()]})
    response = submit(user, lease["id"], {"instances": [instance(x=200)]})
    assert response.status_code == 409 and "already submitted with different instances" in response.data["detail"]
    stored = Annotation.objects.get(image_id=lease["image"]["id"], source="annotator").instances
    assert stored[0]["keypoints"][0] == 100.0


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        ([{"bbox": [0, 0, 10, 10], "keypoints": [1, 1, 2] * 16}], "instance 0: expected 17 keypoints (51 numbers), got 16"),
        ([{**instance(), "keypoints": [5000.0, 10.0, 2] + instance()["keypoints"][3:]}],
         "instance 0: keypoint 0 (kp0) at (5000, 10) is outside the 640x480 image"),
        ([instance(), {**instance(), "keypoints": [3.0, 4.0, 0] + instance()["keypoints"][3:]}],
         "instance 1: keypoint 0 (kp0): v=0 (not labeled) requires x=y=0"),
        ([{**instance(), "keypoints": [1.0, 1.0, 7] + instance()["keypoints"][3:]}],
         "instance 0: keypoint 0 (kp0): v must be 0, 1 or 2, got 7"),
        ([{"keypoints": instance()["keypoints"]}], "instance 0: bbox must be [x, y, w, h]"),
    ],
)
def test_invalid_labels_get_a_400_naming_the_problem_and_nothing_is_written(instances, message):
    world = make_world(images=1, replicas=1)
    user = world["annotator_a"]
    lease = lease_for(user, world.project)
    response = submit(user, lease["id"], {"instances": instances, "active_ms": 10})
    assert response.status_code == 400
    assert any(message in str(m) for m in response.data["errors"]["instances"]), response.data
    assert response.data["detail"].startswith("Invalid input. instances:")
    assignment = Assignment.objects.get(pk=lease["id"])
    assert (assignment.state, assignment.annotation_id, assignment.active_ms) == ("leased", None, 0)
    assert not Annotation.objects.exists()
    assert Image.objects.get(pk=lease["image"]["id"]).submitted_count == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"instances": {"bbox": [1, 2, 3, 4]}}, "instances"),
        ({}, "instances"),
        ({"instances": [], "active_ms": -5}, "active_ms"),
        ({"instances": [], "active_ms": "soon"}, "active_ms"),
    ],
)
def test_malformed_submit_names_the_field(payload, field):
    world = make_world(images=1, replicas=1)
    lease = lease_for(world["annotator_a"], world.project)
    response = submit(world["annotator_a"], lease["id"], payload)
    assert response.status_code == 400 and field in response.data["errors"]
    assert Assignment.objects.get(pk=lease["id"]).state == "leased"


def test_an_empty_image_is_a_valid_submission():
    world = make_world(images=1, replicas=1)
    lease = lease_for(world["annotator_a"], world.project)
    response = submit(world["annotator_a"], lease["id"], {"instances": []})
    assert response.status_code == 200 and response.data["instance_count"] == 0


def test_a_removed_annotator_cannot_submit():
    world = make_world(images=1, replicas=1)
    lease = lease_for(world["annotator_a"], world.project)
    ProjectAnnotator.objects.filter(user=world["annotator_a"]).delete()
    response = submit(world["annotator_a"], lease["id"], {"instances": [instance()]})
    assert response.status_code == 403 and "no longer work on this project" in response.data["detail"]
    assert not Annotation.objects.exists()


# --- active time -----------------------------------------------------------------


def test_active_time_is_capped_by_the_lease_wall_time(clock):
    world = make_world(images=1, replicas=1, idle_limit_seconds=300)
    lease = lease_for(world["annotator_a"], world.project)
    clock.advance(seconds=10)
    response = submit(world["annotator_a"], lease["id"], {"instances": [instance()], "active_ms": 3_600_000})
    assert response.data["active_ms"] == 10_000
    assignment = Assignment.objects.get(pk=lease["id"])
    assert assignment.client_active_ms == 3_600_000  # kept for audit, not billed


def test_a_tab_left_open_bills_at_most_one_idle_limit_past_the_last_activity(clock):
    world = make_world(images=1, replicas=1, idle_limit_seconds=60, lease_seconds=7200)
    user = world["annotator_a"]
    lease = lease_for(user, world.project)
    clock.advance(seconds=30)
    client_for(user).post(f"/api/v1/assignments/{lease['id']}/heartbeat/", {"active_ms": 30_000}, format="json")
    clock.advance(minutes=60)  # nobody touched the tab for an hour
    response = submit(user, lease["id"], {"instances": [instance()], "active_ms": 3_630_000})
    assert response.data["active_ms"] == 30_000 + 60_000


def test_steady_heartbeats_credit_the_clients_own_figure(clock):
    world = make_world(images=1, replicas=1, idle_limit_seconds=60, lease_seconds=7200)
    user = world["annotator_a"]
    lease = lease_for(user, world.project)
    client = client_for(user)
    for minute in range(1, 11):
        clock.advance(seconds=50)
        client.put(f"/api/v1/assignments/{lease['id']}/", {"draft": {"m": minute}, "active_ms": minute * 45_000},
                   format="json")
    clock.advance(seconds=20)
    response = submit(user, lease["id"], {"instances": [instance()], "active_ms": 460_000})
    assert response.data["active_ms"] == 460_000  # under both the wall time (520 s) and the observed 520 s


def test_a_stale_lower_total_never_lowers_the_credit(clock):
    world = make_world(images=1, replicas=1, idle_limit_seconds=600)
    user = world["annotator_a"]
    lease = lease_for(user, world.project)
    client = client_for(user)
    clock.advance(seconds=100)
    client.post(f"/api/v1/assignments/{lease['id']}/heartbeat/", {"active_ms": 90_000}, format="json")
    clock.advance(seconds=10)
    response = client.post(f"/api/v1/assignments/{lease['id']}/heartbeat/", {"active_ms": 20_000}, format="json")
    assert response.data["active_ms"] == 90_000


@pytest.mark.parametrize("replicas", [1, 2], ids=["last replica", "not the last replica"])
def test_a_heartbeat_between_the_submits_read_and_its_write_is_not_lost(clock, replicas):
    """Submit computes active time from the row it read; on PostgreSQL it writes
    without a lock when nothing changed since. Here something did."""
    world = make_world(images=1, replicas=replicas, idle_limit_seconds=20, lease_seconds=7200)
    user = world["annotator_a"]
    lease = lease_for(user, world.project)
    read = own_assignment_to_work_on(user, lease["id"])
    clock.advance(seconds=15)
    client_for(user).post(f"/api/v1/assignments/{lease['id']}/heartbeat/", {"active_ms": 15_000}, format="json")
    clock.advance(seconds=30)
    submitted, created = submit_assignment(read, [instance()], client_active_ms=45_000)
    # 15 s to the heartbeat, then the 30 s since capped at the 20 s idle limit; from the
    # stale read alone it would have been one capped gap of 20 s.
    assert created and (submitted.observed_ms, submitted.active_ms) == (35_000, 35_000)
    stored = Assignment.objects.get(pk=lease["id"])
    assert (stored.state, stored.observed_ms, stored.active_ms, stored.annotation_id) == (
        "submitted", 35_000, 35_000, submitted.annotation_id)
    image = Image.objects.get(pk=lease["image"]["id"])
    assert (image.slots_taken, image.submitted_count) == (1, 1)
