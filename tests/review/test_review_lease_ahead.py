"""The review queue's lease ahead (`reviews/next/?ahead=1`): the workspace prefetches the next task.

The rule is the annotators' (annotation.engine.leases.lease_ahead_rule); these tests hold the review
side to it: one task ahead at most, promoted to current after a decision, expiring, released and
refused to outsiders like any other review lease.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from review.models import ReviewTask
from review.services.scoring import score_images

from .review_world import make_review_world, person

pytestmark = pytest.mark.django_db


def disputed_world(n_images=4):
    world = make_review_world(n_images, auto_accept_oks=0.999)
    world.label_all(lambda n, image_id: [person(seed=10 * n + image_id, noise=1.0 + image_id % 5)])
    score_images(im.pk for im in world.images)
    assert ReviewTask.objects.filter(project=world.project, state="open").count() == n_images
    return world


def ahead(world, user=None):
    return world.client(user or world.qa_lead).post(f"/api/v1/projects/{world.project.pk}/reviews/next/?ahead=1")


def leases_of(user):
    return dict(ReviewTask.objects.filter(leased_by=user, state="open").values_list("pk", "ahead"))


def test_ahead_leases_one_more_task_and_a_decision_promotes_it():
    world = disputed_world(4)
    # Without a current task, ahead is a plain next.
    first = ahead(world)
    assert first.status_code == 201
    current = first.json()["task"]
    assert current["ahead"] is False
    assert leases_of(world.qa_lead) == {current["id"]: False}

    second = ahead(world)
    assert second.status_code == 201
    prefetched = second.json()["task"]
    assert prefetched["id"] != current["id"] and prefetched["ahead"] is True
    assert second.json()["image"]["url"]  # everything the workspace draws comes with it
    # Asking again returns the same two leases: one current, one ahead.
    assert ahead(world).json()["task"]["id"] == prefetched["id"]
    assert world.review_next().json()["task"]["id"] == current["id"]
    assert leases_of(world.qa_lead) == {current["id"]: False, prefetched["id"]: True}

    # A second QA lead gets neither of them.
    other = world.review_next(world.manager).json()["task"]
    assert other["id"] not in (current["id"], prefetched["id"])

    # After the decision, the next `ahead` makes the prefetched task current and leases a new one ahead.
    ReviewTask.objects.filter(pk=prefetched["id"]).update(lease_expires_at=timezone.now() + timedelta(seconds=5))
    assert world.decide(current["id"], {"action": "accept_consensus", "version": current["version"]}).status_code == 200
    third = ahead(world)
    assert third.status_code == 201
    assert third.json()["task"]["id"] not in (current["id"], prefetched["id"], other["id"])
    assert leases_of(world.qa_lead) == {prefetched["id"]: False, third.json()["task"]["id"]: True}
    promoted = ReviewTask.objects.get(pk=prefetched["id"])
    # Promoted: its lease counts from now, a whole lease long.
    assert promoted.lease_expires_at > timezone.now() + timedelta(seconds=world.project.lease_seconds - 60)


def test_plain_next_after_a_decision_answers_with_the_prefetched_task():
    world = disputed_world(3)
    current = world.review_next().json()["task"]
    prefetched = ahead(world).json()["task"]
    world.decide(current["id"], {"action": "accept_consensus", "version": current["version"]})
    again = world.review_next()
    assert again.status_code == 200  # not a new lease: the one already held, now current
    assert again.json()["task"]["id"] == prefetched["id"]
    assert leases_of(world.qa_lead) == {prefetched["id"]: False}


def test_an_expired_ahead_lease_goes_to_whoever_asks_and_the_holder_leases_another():
    world = disputed_world(4)
    current = world.review_next().json()["task"]
    prefetched = ahead(world).json()["task"]
    ReviewTask.objects.filter(pk=prefetched["id"]).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    taken = world.review_next(world.manager)
    assert taken.json()["task"]["id"] == prefetched["id"]
    assert leases_of(world.manager) == {prefetched["id"]: False}  # theirs, as a current task
    replacement = ahead(world).json()["task"]
    assert replacement["id"] not in (current["id"], prefetched["id"])
    assert leases_of(world.qa_lead) == {current["id"]: False, replacement["id"]: True}


def test_an_unexpired_ahead_lease_is_held_against_others_and_released_on_request():
    world = disputed_world(3)
    world.review_next()
    prefetched = ahead(world).json()["task"]
    other = world.client(world.manager)
    refused = other.post(f"/api/v1/reviews/{prefetched['id']}/decide/",
                         {"action": "accept_consensus", "version": prefetched["version"]}, format="json")
    assert refused.status_code == 409
    assert other.post(f"/api/v1/reviews/{prefetched['id']}/release/").status_code == 409
    released = world.client(world.qa_lead).post(f"/api/v1/reviews/{prefetched['id']}/release/")
    assert released.status_code == 200 and released.json()["leased_by"] is None
    task = ReviewTask.objects.get(pk=prefetched["id"])
    assert task.leased_by_id is None and task.ahead is False


def test_ahead_is_refused_outside_the_project_and_empty_queue_answers_204():
    world = disputed_world(1)
    assert ahead(world, world.outsider_qa_lead).status_code == 404
    assert ahead(world, world.annotators[0]).status_code == 404
    assert ahead(world, world.vendor_manager).status_code == 404
    assert ahead(world).status_code == 201
    assert ahead(world).status_code == 204  # one task, held as current: nothing to lease ahead
    assert list(leases_of(world.qa_lead).values()) == [False]


@pytest.mark.django_db(transaction=True)
def test_a_plain_next_beside_a_lease_ahead_never_finds_the_queue_empty_while_a_task_waits():
    """One person's lease calls are serialized (queue._one_lease_call_at_a_time): without that, each
    call skips the row the other has locked, and the plain next can answer 204 with a task waiting."""
    import threading

    from django.db import connection

    from review.services.queue import next_review

    world = disputed_world(1)  # one task waits: whichever call runs second must find it held, not skip it
    for _ in range(8):
        ReviewTask.objects.filter(project=world.project).update(state="open", leased_by=None, ahead=False)
        barrier, answers = threading.Barrier(2), {}

        def call(kind):
            try:
                barrier.wait()
                answers[kind] = next_review(world.qa_lead, world.project, ahead=kind == "ahead")[0]
            finally:
                connection.close()

        threads = [threading.Thread(target=call, args=(kind,)) for kind in ("plain", "ahead")]
        [t.start() for t in threads]
        [t.join() for t in threads]
        # The plain next always gets the task. Ahead gets it too when it ran first (with nothing
        # current it is a plain next); run second, it finds no task after the current one.
        assert answers["plain"] is not None, answers
        assert answers["ahead"] is None or answers["ahead"].pk == answers["plain"].pk
