"""The engine's invariants under real concurrency on PostgreSQL: real threads, real transactions.

Each worker thread has its own database connection (closed when it ends) and
its own API client; a barrier releases them at once so they race for rows.
"""

import threading
from collections import Counter

import pytest
from django.db import connection

from annotation.models import Annotation, Assignment, Image
from jointly.jobs.models import JobRun
from review.models import ConsensusResult

from .factories import (  # noqa: F401  (fixtures: clock, engine_path runs both engine paths)
    client_for,
    clock,
    instance,
    make_annotator,
    make_world,
    prefill,
    engine_path,
)

pytestmark = pytest.mark.django_db(transaction=True)


def run_threads(count, work):
    """Run work(i) in `count` threads started together; re-raise the first failure."""
    barrier = threading.Barrier(count)
    results = [None] * count
    errors = []

    def target(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def label_until_done(user, project):
    """One annotator's loop: next, submit, until nothing is left. Returns the image ids labeled."""
    client = client_for(user)
    labeled = []
    while True:
        task = client.post(f"/api/v1/projects/{project.pk}/tasks/next/")
        if task.status_code == 204:
            return labeled
        assert task.status_code in (200, 201), task.data
        done = client.post(
            f"/api/v1/assignments/{task.data['id']}/submit/", {"instances": [instance()], "active_ms": 10}, format="json"
        )
        assert done.status_code == 200, done.data
        labeled.append(task.data["image"]["id"])


def test_twenty_annotators_racing_for_the_last_slots_of_fifty_images_never_over_assign():
    world = make_world(images=50, replicas=3)
    fillers = [make_annotator(world.project, world.vendor_a) for _ in range(2)]
    prefill(world.images, fillers)  # every image has 2 of 3 replicas: 50 slots left
    racers = [make_annotator(world.project, world.vendor_b) for _ in range(20)]

    labeled = run_threads(20, lambda i: label_until_done(racers[i], world.project))

    all_labeled = [image_id for per_user in labeled for image_id in per_user]
    assert len(all_labeled) == 50  # every last slot filled, once
    assert Counter(all_labeled) == {image.pk: 1 for image in world.images}
    for per_user in labeled:
        assert len(per_user) == len(set(per_user))
    per_image = Counter(
        Assignment.objects.filter(project=world.project, state="submitted").values_list("image_id", flat=True)
    )
    assert set(per_image.values()) == {3}
    distinct = Assignment.objects.filter(project=world.project).values_list("image_id", "annotator_id")
    assert len(distinct) == len(set(distinct)) == 150
    assert Annotation.objects.filter(image__project=world.project, source="annotator").count() == 150
    counters = set(Image.objects.filter(project=world.project).values_list("slots_taken", "submitted_count"))
    assert counters == {(3, 3)}
    # Each image was scored in-process right after its last replica: out of annotation, decided.
    assert set(Image.objects.filter(project=world.project).values_list("status", flat=True)) <= {"accepted", "review"}
    assert ConsensusResult.objects.filter(project=world.project).count() == 50
    scoring = JobRun.objects.filter(func="review.jobs.score_image").values_list("kwargs", flat=True)
    assert sorted(k["image_id"] for k in scoring) == sorted(image.pk for image in world.images)


def test_twelve_annotators_label_a_fresh_project_to_exactly_three_replicas_each():
    world = make_world(images=30, replicas=3)
    racers = [make_annotator(world.project, world.vendor_a) for _ in range(12)]
    labeled = run_threads(12, lambda i: label_until_done(racers[i], world.project))
    assert sum(len(per_user) for per_user in labeled) == 90
    per_image = Counter(
        Assignment.objects.filter(project=world.project, state="submitted").values_list("image_id", flat=True)
    )
    assert per_image == {image.pk: 3 for image in world.images}


def test_overdue_leases_are_reclaimed_once_under_a_race(clock):
    world = make_world(images=30, replicas=1, lease_seconds=600)
    owners = [make_annotator(world.project, world.vendor_a) for _ in range(30)]
    for image, owner in zip(world.images, owners):
        prefill([image], [owner], state="leased", leased_at=clock.now)
    clock.advance(seconds=601)  # every lease is overdue, none swept
    racers = [make_annotator(world.project, world.vendor_b) for _ in range(15)]

    labeled = run_threads(15, lambda i: label_until_done(racers[i], world.project))

    assert Counter(image_id for per_user in labeled for image_id in per_user) == {image.pk: 1 for image in world.images}
    states = Counter(Assignment.objects.filter(project=world.project).values_list("state", flat=True))
    assert states == {"expired": 30, "submitted": 30}


def test_a_double_click_on_next_holds_one_lease():
    world = make_world(images=10, replicas=1)
    user = world["annotator_a"]
    responses = run_threads(8, lambda i: client_for(user).post(f"/api/v1/projects/{world.project.pk}/tasks/next/"))
    assert len({r.data["id"] for r in responses}) == 1
    assert sorted(r.status_code for r in responses).count(201) == 1
    assert Assignment.objects.filter(annotator=user).count() == 1
    assert Image.objects.filter(project=world.project, slots_taken__gt=0).count() == 1


def test_concurrent_retries_of_one_submit_store_one_annotation():
    world = make_world(images=1, replicas=1)
    user = world["annotator_a"]
    task = client_for(user).post(f"/api/v1/projects/{world.project.pk}/tasks/next/").data
    payload = {"instances": [instance()], "active_ms": 100}
    responses = run_threads(
        8, lambda i: client_for(user).post(f"/api/v1/assignments/{task['id']}/submit/", payload, format="json")
    )
    assert {r.status_code for r in responses} == {200}
    assert len({r.data["annotation"] for r in responses}) == 1
    assert Annotation.objects.filter(image_id=task["image"]["id"], source="annotator").count() == 1
    assert JobRun.objects.filter(func="review.jobs.score_image").count() == 1
