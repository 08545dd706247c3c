"""`tasks/next/?ahead=1`: the image after the current one, leased while the annotator labels.

The workspace fetches it in the background so the next image appears at once
after submit; these tests pin what the engine promises about it.
"""

import pytest

from annotation.models import Assignment, Image

from .factories import client_for, clock, engine_path, instance, make_world

pytestmark = pytest.mark.django_db
__all__ = ["clock", "engine_path"]  # fixtures, imported for pytest

NEXT = "/api/v1/projects/{}/tasks/next/"


@pytest.fixture(params=[False, True], ids=["session", "token"])
def world_and_client(request):
    world = make_world(images=4, replicas=1)
    return world, client_for(world["annotator_a"], token=request.param)


def test_ahead_leases_a_second_image_and_next_keeps_answering_the_current_one(world_and_client):
    world, client = world_and_client
    current = client.post(NEXT.format(world.project.pk))
    assert current.status_code == 201
    ahead = client.post(NEXT.format(world.project.pk) + "?ahead=1")
    assert ahead.status_code == 201
    assert ahead.json()["image"]["id"] != current.json()["image"]["id"]
    # Asking again returns the same two leases, and the ahead one takes a slot of its image.
    assert client.post(NEXT.format(world.project.pk)).json()["id"] == current.json()["id"]
    again = client.post(NEXT.format(world.project.pk) + "?ahead=1")
    assert (again.status_code, again.json()["id"]) == (200, ahead.json()["id"])
    assert Image.objects.get(pk=ahead.json()["image"]["id"]).slots_taken == 1
    rows = dict(Assignment.objects.filter(annotator=world["annotator_a"]).values_list("pk", "ahead"))
    assert rows == {current.json()["id"]: False, ahead.json()["id"]: True}


def test_after_submit_next_promotes_the_lease_taken_ahead(world_and_client, clock):
    world, client = world_and_client
    current = client.post(NEXT.format(world.project.pk)).json()
    ahead = client.post(NEXT.format(world.project.pk) + "?ahead=1").json()
    clock.advance(minutes=10)
    submitted = client.post(
        f"/api/v1/assignments/{current['id']}/submit/", {"instances": [instance()], "active_ms": 1000}, format="json"
    )
    assert submitted.status_code == 200
    promoted = client.post(NEXT.format(world.project.pk))
    assert (promoted.status_code, promoted.json()["id"]) == (200, ahead["id"])
    row = Assignment.objects.get(pk=ahead["id"])
    # Its lease and its time start now: none of the previous image's ten minutes is billed to it.
    assert not row.ahead and row.leased_at == clock.now and row.last_activity_at == clock.now
    assert (row.lease_expires_at - row.leased_at).total_seconds() == world.project.lease_seconds
    # And the next ahead lease is a new image.
    third = client.post(NEXT.format(world.project.pk) + "?ahead=1").json()
    assert third["id"] not in (current["id"], ahead["id"])


def test_ahead_without_a_current_lease_is_a_plain_next(world_and_client):
    world, client = world_and_client
    first = client.post(NEXT.format(world.project.pk) + "?ahead=1")
    assert first.status_code == 201
    assert Assignment.objects.get(pk=first.json()["id"]).ahead is False
    assert client.post(NEXT.format(world.project.pk)).json()["id"] == first.json()["id"]


def test_ahead_answers_204_when_nothing_else_is_left(world_and_client):
    world, client = world_and_client
    Image.objects.filter(pk__in=[i.pk for i in world.images[1:]]).delete()
    assert client.post(NEXT.format(world.project.pk)).status_code == 201
    assert client.post(NEXT.format(world.project.pk) + "?ahead=1").status_code == 204
