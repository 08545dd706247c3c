"""Lease expiry with a controllable clock: reclaiming slots, late submits, renewal, bulk sweep."""

import pytest

from annotation.models import Annotation, Assignment, Image
from annotation.engine import expire_overdue_leases

from .factories import (  # noqa: F401  (fixtures: clock, engine_path runs both engine paths)
    client_for,
    clock,
    instance,
    make_world,
    engine_path,
)

pytestmark = pytest.mark.django_db

LEASE = 600


def next_task(user, project):
    return client_for(user).post(f"/api/v1/projects/{project.pk}/tasks/next/")


def submit(user, assignment_id, x=100.0):
    return client_for(user).post(
        f"/api/v1/assignments/{assignment_id}/submit/", {"instances": [instance(x=x)], "active_ms": 1000}, format="json"
    )


def test_an_expired_lease_frees_its_slot_for_someone_else(clock):
    world = make_world(images=1, replicas=1, lease_seconds=LEASE)
    first = next_task(world["annotator_a"], world.project).data
    clock.advance(seconds=LEASE - 1)
    assert next_task(world["annotator_a2"], world.project).status_code == 204  # still held
    clock.advance(seconds=2)
    second = next_task(world["annotator_a2"], world.project)
    assert second.status_code == 201 and second.data["image"]["id"] == first["image"]["id"]
    assert Assignment.objects.get(pk=first["id"]).state == "expired"
    image = Image.objects.get(pk=first["image"]["id"])
    assert image.slots_taken == 1 and image.next_lease_expiry == second.data["lease_expires_at"]


def test_late_submit_is_accepted_while_the_slot_was_not_reassigned(clock):
    world = make_world(images=1, replicas=1, lease_seconds=LEASE)
    lease = next_task(world["annotator_a"], world.project).data
    clock.advance(seconds=LEASE + 120)
    response = submit(world["annotator_a"], lease["id"])
    assert response.status_code == 200, response.data
    assert Assignment.objects.get(pk=lease["id"]).state == "submitted"
    image = Image.objects.get(pk=lease["image"]["id"])
    # Its only replica is in: the image left annotation and was scored.
    assert image.submitted_count == 1 and image.status in ("accepted", "review")


def test_late_submit_is_accepted_after_the_sweep_if_the_slot_is_still_free(clock):
    world = make_world(images=1, replicas=2, lease_seconds=LEASE)
    lease = next_task(world["annotator_a"], world.project).data
    clock.advance(seconds=LEASE + 1)
    assert expire_overdue_leases() == 1
    assert Assignment.objects.get(pk=lease["id"]).state == "expired"
    assert Image.objects.get(pk=lease["image"]["id"]).slots_taken == 0
    # Someone else took one of the two slots meanwhile: one is still free.
    next_task(world["annotator_a2"], world.project)
    response = submit(world["annotator_a"], lease["id"])
    assert response.status_code == 200
    assert Image.objects.get(pk=lease["image"]["id"]).slots_taken == 2


def test_late_submit_is_refused_once_the_slot_went_to_someone_else(clock):
    world = make_world(images=1, replicas=1, lease_seconds=LEASE)
    lease = next_task(world["annotator_a"], world.project).data
    clock.advance(seconds=LEASE + 1)
    taken = next_task(world["annotator_a2"], world.project)
    assert taken.data["image"]["id"] == lease["image"]["id"]
    response = submit(world["annotator_a"], lease["id"])
    assert response.status_code == 409
    assert "expired" in response.data["detail"] and "given to another annotator" in response.data["detail"]
    assert not Annotation.objects.filter(annotator=world["annotator_a"]).exists()
    assert Assignment.objects.get(pk=lease["id"]).state == "expired"
    # The one who holds the slot now submits normally.
    assert submit(world["annotator_a2"], taken.data["id"]).status_code == 200


def test_reload_after_expiry_renews_the_lease_when_nobody_took_it(clock):
    world = make_world(images=2, replicas=1, lease_seconds=LEASE)
    lease = next_task(world["annotator_a"], world.project).data
    clock.advance(seconds=LEASE + 30)
    again = next_task(world["annotator_a"], world.project)
    assert again.status_code == 200 and again.data["id"] == lease["id"]
    assert (again.data["lease_expires_at"] - clock.now).total_seconds() == LEASE
    assert Image.objects.get(pk=lease["image"]["id"]).next_lease_expiry == again.data["lease_expires_at"]


def test_reload_after_the_slot_was_reclaimed_gives_a_new_image(clock):
    world = make_world(images=2, replicas=1, lease_seconds=LEASE)
    lease = next_task(world["annotator_a"], world.project).data
    clock.advance(seconds=LEASE + 1)
    next_task(world["annotator_a2"], world.project)  # reclaims the overdue slot
    again = next_task(world["annotator_a"], world.project)
    assert again.status_code == 201 and again.data["image"]["id"] != lease["image"]["id"]


def test_bulk_expiry_recounts_every_image_with_overdue_leases(clock):
    world = make_world(images=3, replicas=2, lease_seconds=LEASE)
    leases = [next_task(world[name], world.project).data for name in ("annotator_a", "annotator_a2", "annotator_b")]
    clock.advance(seconds=LEASE // 2)
    submit(world["annotator_b"], leases[2]["id"])
    clock.advance(seconds=LEASE // 2 + 1)
    assert expire_overdue_leases() == 2
    assert expire_overdue_leases() == 0  # idempotent
    states = dict(Assignment.objects.filter(project=world.project).values_list("id", "state"))
    assert [states[lease["id"]] for lease in leases] == ["expired", "expired", "submitted"]
    counters = Image.objects.filter(project=world.project).values_list("slots_taken", "submitted_count", "next_lease_expiry")
    assert sorted(counters, key=lambda c: -c[0]) == [(1, 1, None), (0, 0, None), (0, 0, None)]


def test_draft_and_heartbeat_refused_after_the_lease_was_reclaimed(clock):
    world = make_world(images=1, replicas=1, lease_seconds=LEASE)
    lease = next_task(world["annotator_a"], world.project).data
    clock.advance(seconds=LEASE + 1)
    next_task(world["annotator_a2"], world.project)
    client = client_for(world["annotator_a"])
    response = client.put(f"/api/v1/assignments/{lease['id']}/", {"draft": {"x": 1}}, format="json")
    assert response.status_code == 409 and "lease expired" in response.data["detail"]
    assert client.post(f"/api/v1/assignments/{lease['id']}/heartbeat/", {}, format="json").status_code == 409


def test_expire_leases_command_reclaims_in_batches(clock):
    from io import StringIO

    from django.core.management import call_command

    world = make_world(images=3, replicas=1, lease_seconds=LEASE)
    for name in ("annotator_a", "annotator_a2", "annotator_b"):
        next_task(world[name], world.project)
    clock.advance(seconds=LEASE + 1)
    out = StringIO()
    call_command("expire_leases", "--batch-size", "2", stdout=out)
    assert "Expired 3 overdue lease(s)." in out.getvalue()
    assert set(Assignment.objects.values_list("state", flat=True)) == {"expired"}
    assert set(Image.objects.filter(project=world.project).values_list("slots_taken", flat=True)) == {0}
