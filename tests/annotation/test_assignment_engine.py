"""The assignment engine through the API: leases, replicas, priority, gold, release, scoring hook."""

from collections import Counter

import pytest

from annotation.models import Annotation, Assignment, Image, ProjectAnnotator
from jointly.jobs.models import JobRun
from models_registry.models import ModelVersion
from review.models import ConsensusResult

from .factories import (  # noqa: F401  (engine_path runs both engine paths)
    client_for,
    instance,
    make_annotator,
    make_images,
    make_project,
    make_world,
    with_instructions,
    engine_path,
)

pytestmark = pytest.mark.django_db


def next_url(project):
    return f"/api/v1/projects/{project.pk}/tasks/next/"


def submit(client, assignment_id, payload=None):
    return client.post(
        f"/api/v1/assignments/{assignment_id}/submit/", payload or {"instances": [instance()], "active_ms": 1000},
        format="json",
    )


def test_next_leases_an_image_with_everything_the_workspace_needs():
    world = make_world(images=3, replicas=2, lease_seconds=600)
    client = client_for(world["annotator_a"])

    response = client.post(next_url(world.project))

    assert response.status_code == 201, response.data
    body = response.data
    assert body["state"] == "leased"
    assert body["image"]["id"] == world.images[0].pk
    assert (body["image"]["width"], body["image"]["height"]) == (640, 480)
    assert body["image"]["url"] == f"http://testserver/api/v1/images/{body['image']['id']}/file/"
    assert [kp["name"] for kp in body["skeleton"]["keypoints"]] == [f"kp{i}" for i in range(17)]
    assert body["prelabel"] is None and body["instructions"] is None
    assert (body["lease_expires_at"] - body["leased_at"]).total_seconds() == 600
    # Nothing that tells a gold check apart, and no file name.
    assert "is_gold" not in body["image"] and "file_name" not in body["image"]
    image = Image.objects.get(pk=world.images[0].pk)
    assert (image.status, image.slots_taken, image.submitted_count) == ("annotating", 1, 0)


def test_asking_again_while_holding_a_lease_returns_the_same_assignment():
    world = make_world(images=3)
    client = client_for(world["annotator_a"])
    first = client.post(next_url(world.project))
    again = client.post(next_url(world.project))
    assert again.status_code == 200
    assert again.data["id"] == first.data["id"]
    assert Assignment.objects.filter(annotator=world["annotator_a"]).count() == 1


def test_replicas_cap_and_never_the_same_annotator_twice():
    world = make_world(images=2, replicas=2)
    annotators = [world["annotator_a"], world["annotator_a2"], world["annotator_b"]]
    served = Counter()
    for _round in range(3):
        for user in annotators:
            client = client_for(user)
            response = client.post(next_url(world.project))
            if response.status_code == 204:
                continue
            served[(user.pk, response.data["image"]["id"])] += 1
            assert submit(client, response.data["id"]).status_code == 200
    per_image = Counter(image_id for (_user, image_id) in served)
    assert per_image == {world.images[0].pk: 2, world.images[1].pk: 2}
    assert max(served.values()) == 1
    # Everyone is now done or blocked: nothing left for anybody.
    for user in annotators:
        assert client_for(user).post(next_url(world.project)).status_code == 204


def test_images_closest_to_completion_come_first_then_priority_then_import_order():
    world = make_world(images=0, replicas=3)
    low, high, started = make_images(world.project, 3)
    Image.objects.filter(pk=high.pk).update(priority=5)
    # `started` already has one replica submitted by someone.
    someone = make_annotator(world.project, world.vendor_a)
    Image.objects.filter(pk__in=[low.pk, high.pk]).update(status="accepted")  # park the others for a moment
    client = client_for(someone)
    lease = client.post(next_url(world.project)).data
    assert lease["image"]["id"] == started.pk
    submit(client, lease["id"])
    Image.objects.filter(pk__in=[low.pk, high.pk]).update(status="new")

    order = [client_for(world[name]).post(next_url(world.project)).data["image"]["id"]
             for name in ("annotator_a", "annotator_a2")]
    # The started image first (closest to completion) ...
    assert order[0] == started.pk
    # ... and, at 2 of 3 slots, still first: annotator_a2 takes its last slot.
    assert order[1] == started.pk
    third = client_for(world["annotator_b"]).post(next_url(world.project)).data["image"]["id"]
    assert third == high.pk  # then priority beats import order
    fourth = client_for(make_annotator(world.project, world.vendor_b)).post(next_url(world.project)).data
    # high (1 slot taken) is now closer to completion than low (none).
    assert fourth["image"]["id"] == high.pk
    fifth = client_for(make_annotator(world.project, world.vendor_b)).post(next_url(world.project)).data
    assert fifth["image"]["id"] == high.pk
    sixth = client_for(make_annotator(world.project, world.vendor_b)).post(next_url(world.project)).data
    assert sixth["image"]["id"] == low.pk


def test_gold_images_are_mixed_in_at_the_gold_rate_and_look_like_any_task():
    world = make_world(images=4, replicas=1, gold_rate=1.0)
    gold = make_images(world.project, 1, is_gold=True)[0]
    client = client_for(world["annotator_a"])
    first = client.post(next_url(world.project))
    assert first.data["image"]["id"] == gold.pk
    assert set(first.data) == set(client.post(next_url(world.project)).data)
    submit(client, first.data["id"])
    # The gold image was seen; real work follows.
    second = client.post(next_url(world.project))
    assert second.data["image"]["id"] == world.images[0].pk
    # Gold is not capped by replicas: another annotator gets it too.
    other = client_for(world["annotator_a2"]).post(next_url(world.project))
    assert other.data["image"]["id"] == gold.pk


def test_gold_is_not_served_once_real_work_is_exhausted():
    world = make_world(images=1, replicas=1, gold_rate=1.0)
    make_images(world.project, 1, is_gold=True)
    Image.objects.filter(pk=world.images[0].pk).update(status="accepted")
    assert client_for(world["annotator_a"]).post(next_url(world.project)).status_code == 204


def test_gold_rate_zero_never_serves_gold():
    world = make_world(images=3, replicas=3, gold_rate=0.0)
    gold = make_images(world.project, 3, is_gold=True)
    for name in ("annotator_a", "annotator_a2", "annotator_b"):
        served = client_for(world[name]).post(next_url(world.project)).data["image"]["id"]
        assert served not in {g.pk for g in gold}


def test_release_gives_the_slot_back_but_never_to_the_same_annotator():
    world = make_world(images=1, replicas=1)
    client = client_for(world["annotator_a"])
    lease = client.post(next_url(world.project)).data
    response = client.post(f"/api/v1/assignments/{lease['id']}/release/", {"active_ms": 500}, format="json")
    assert response.status_code == 200 and response.data["state"] == "released"
    assert Image.objects.get(pk=lease["image"]["id"]).slots_taken == 0
    assert client.post(next_url(world.project)).status_code == 204
    other = client_for(world["annotator_a2"]).post(next_url(world.project))
    assert other.data["image"]["id"] == lease["image"]["id"]
    # Releasing twice is harmless; submitting a released assignment is refused.
    assert client.post(f"/api/v1/assignments/{lease['id']}/release/").status_code == 200
    refused = submit(client, lease["id"])
    assert refused.status_code == 409 and "released" in refused.data["detail"]


def test_draft_is_saved_and_returned_on_reload():
    world = make_world(images=1)
    client = client_for(world["annotator_a"])
    lease = client.post(next_url(world.project)).data
    draft = {"instances": [{"keypoints": [1, 2, 2]}], "tool": "point"}
    saved = client.put(f"/api/v1/assignments/{lease['id']}/", {"draft": draft, "active_ms": 2000}, format="json")
    assert saved.status_code == 200 and saved.data["draft"] == draft
    reloaded = client.post(next_url(world.project)).data
    assert reloaded["id"] == lease["id"] and reloaded["draft"] == draft
    assert client.get(f"/api/v1/assignments/{lease['id']}/").data["draft"] == draft


def test_draft_refused_after_submit():
    world = make_world(images=1)
    client = client_for(world["annotator_a"])
    lease = client.post(next_url(world.project)).data
    submit(client, lease["id"])
    response = client.put(f"/api/v1/assignments/{lease['id']}/", {"draft": {}}, format="json")
    assert response.status_code == 409 and "already submitted" in response.data["detail"]


def test_prelabels_shown_only_when_the_project_asks_for_them():
    world = make_world(images=1)
    model = ModelVersion.objects.create(name="rtm", skeleton=world.project.skeleton)
    world.project.prelabel_model = model
    world.project.save()
    predicted = {**instance(x=50), "scores": [0.9] * world.project.skeleton.keypoints.count()}
    Annotation.objects.create(image=world.images[0], source="model", pose_model=model, instances=[predicted])
    body = client_for(world["annotator_a"]).post(next_url(world.project)).data
    assert body["prelabel"] == {
        "model": {"id": model.pk, "name": "rtm", "version": "1"},
        "instances": [{"bbox": predicted["bbox"], "keypoints": predicted["keypoints"], "scores": predicted["scores"]}],
    }
    world.project.show_prelabels = False
    world.project.save()
    assert client_for(world["annotator_a"]).post(next_url(world.project)).data["prelabel"] is None


def test_last_replica_is_scored_exactly_once_and_identical_replicas_are_auto_accepted():
    world = make_world(images=1, replicas=2, review_sample_rate=0.0)
    image = world.images[0]
    clients = [client_for(world["annotator_a"]), client_for(world["annotator_a2"])]
    leases = [c.post(next_url(world.project)).data for c in clients]
    submit(clients[0], leases[0]["id"])
    assert JobRun.objects.filter(func="review.jobs.score_image").count() == 0
    assert Image.objects.get(pk=image.pk).status == "annotating"
    submit(clients[1], leases[1]["id"])
    submit(clients[1], leases[1]["id"])  # a retry is not a second "last replica"
    runs = JobRun.objects.filter(func="review.jobs.score_image")
    assert [(r.queue, r.kwargs, r.state) for r in runs] == [("scoring", {"image_id": image.pk}, "finished")]
    assert runs[0].result == {"scored": 1, "auto_accepted": 1, "needs_review": 0}
    image.refresh_from_db()
    assert (image.status, image.submitted_count, image.slots_taken) == ("accepted", 2, 2)
    assert ConsensusResult.objects.get(image=image).agreement == pytest.approx(1.0)


@pytest.mark.django_db(transaction=True)
def test_scoring_job_runs_on_a_real_worker(run_worker):
    world = make_world(images=1, replicas=1)
    client = client_for(world["annotator_a"])
    lease = client.post(next_url(world.project)).data
    submit(client, lease["id"])
    run = JobRun.objects.get(func="review.jobs.score_image")
    assert run.state == "queued"
    result = run_worker("scoring")
    assert result.returncode == 0, result.stderr
    run.refresh_from_db()
    assert run.state == "finished" and run.result["scored"] == 1
    result = ConsensusResult.objects.get(image=world.images[0])
    expected_status = "accepted" if result.decision == "auto_accepted" else "review"
    assert Image.objects.get(pk=world.images[0].pk).status == expected_status


def test_next_refused_until_current_instructions_are_acknowledged():
    world = make_world(images=2)
    instructions = with_instructions(world.project, version=3)
    client = client_for(world["annotator_a"])
    refused = client.post(next_url(world.project))
    assert refused.status_code == 409
    assert "acknowledge the instructions" in refused.data["detail"]
    assert refused.data["errors"]["instructions"]["version"] == 3
    assert refused.data["errors"]["instructions"]["url"].endswith(f"/projects/{world.project.pk}/instructions/")

    read = client.get(f"/api/v1/projects/{world.project.pk}/instructions/").data
    assert read["version"] == 3 and read["acknowledged"] is False and "<h1>Rules</h1>" in read["body_html"]
    acknowledge = f"/api/v1/projects/{world.project.pk}/instructions/acknowledge/"
    stale = client.post(acknowledge, {"version": 2}, format="json")
    assert stale.status_code == 409 and "current version is 3" in stale.data["detail"]
    assert client.post(acknowledge, {"version": 3}, format="json").status_code == 200
    lease = client.post(next_url(world.project))
    assert lease.status_code == 201 and lease.data["instructions"]["version"] == 3
    submit(client, lease.data["id"])

    # A new version of the instructions: acknowledge again before the next task.
    instructions.version = 4
    instructions.save()
    assert client.post(next_url(world.project)).status_code == 409
    client.post(acknowledge, {"version": 4}, format="json")
    assert client.post(next_url(world.project)).status_code == 201


def test_annotator_not_staffed_on_the_project_is_told_so():
    world = make_world(images=1)
    ProjectAnnotator.objects.filter(user=world["annotator_a"]).delete()
    response = client_for(world["annotator_a"]).post(next_url(world.project))
    assert response.status_code == 403 and "not staffed" in response.data["detail"]


def test_vendor_losing_the_grant_stops_its_annotators():
    world = make_world(images=2)
    world.project.vendors.remove(world.vendor_b)
    assert client_for(world["annotator_b"]).post(next_url(world.project)).status_code == 404
    assert client_for(world["annotator_a"]).post(next_url(world.project)).status_code == 201


def test_inactive_project_gives_no_tasks():
    world = make_world(images=2, is_active=False)
    assert client_for(world["annotator_a"]).post(next_url(world.project)).status_code == 404


def test_leases_are_per_project():
    world = make_world(images=1)
    other = make_project(world.organization, vendors=[world.vendor_a])
    make_images(other, 1)
    ProjectAnnotator.objects.create(project=other, user=world["annotator_a"], vendor=world.vendor_a)
    client = client_for(world["annotator_a"])
    first = client.post(next_url(world.project)).data
    second = client.post(next_url(other)).data
    assert first["id"] != second["id"] and second["project"] == other.pk
    assignment = Assignment.objects.get(pk=second["id"])
    assert assignment.vendor_id == world.vendor_a.pk
