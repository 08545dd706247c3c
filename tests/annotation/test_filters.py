"""Query parameters of the list endpoints: one filter serializer each, one way to read flags and ids."""

import pytest

from annotation.models import Project

from .factories import client_for, make_world

pytestmark = pytest.mark.django_db


def test_flags_read_the_same_everywhere_and_a_bad_one_names_its_parameter():
    world = make_world(images=1)
    other = Project.objects.create(organization=world.organization, name="stopped", skeleton=world.project.skeleton,
                                   is_active=False)
    client = client_for(world["project_manager"])
    for value, expected in (("true", {world.project.pk}), ("1", {world.project.pk}), ("no", {other.pk}),
                            ("off", {other.pk})):
        body = client.get("/api/v1/projects/", {"is_active": value}).json()
        assert {p["id"] for p in body["results"]} == expected, value
    bad = client.get("/api/v1/projects/", {"is_active": "maybe"})
    assert bad.status_code == 400 and list(bad.json()["errors"]) == ["is_active"]
    images = client.get(f"/api/v1/projects/{world.project.pk}/images/", {"is_gold": "maybe"})
    assert images.status_code == 400 and list(images.json()["errors"]) == ["is_gold"]


def test_ids_and_choice_lists_name_the_parameter():
    world = make_world(images=1)
    annotator = client_for(world["annotator_a"])
    assert annotator.post(f"/api/v1/projects/{world.project.pk}/tasks/next/").status_code == 201
    mine = annotator.get("/api/v1/assignments/", {"state": "leased,submitted", "project": world.project.pk}).json()
    assert len(mine["results"]) == 1
    bad_state = annotator.get("/api/v1/assignments/", {"state": "leased,lost"})
    assert bad_state.status_code == 400
    assert bad_state.json()["errors"] == {"state": [
        "Unknown state lost; expected one of leased, submitted, released, expired, rejected, rework."]}
    bad_id = annotator.get("/api/v1/assignments/", {"project": "x"})
    assert bad_id.status_code == 400 and bad_id.json()["errors"] == {"project": ["Expected an id, got 'x'."]}
    manager = client_for(world["vendor_manager_a"])
    staffing = manager.get(f"/api/v1/vendors/{world.vendor_a.pk}/staffing/", {"project": "-1"})
    assert staffing.status_code == 400 and "project" in staffing.json()["errors"]


def test_the_leaderboard_requires_its_project_through_the_same_filter():
    world = make_world(images=1)
    client = client_for(world["project_manager"])
    missing = client.get("/api/v1/models/leaderboard/")
    assert missing.status_code == 400
    assert missing.json()["errors"] == {"project": ["Give the project: ?project=ID."]}
    bad = client.get("/api/v1/models/leaderboard/", {"project": "x"})
    assert bad.status_code == 400 and bad.json()["errors"] == {"project": ["Expected an id, got 'x'."]}
    assert client.get("/api/v1/models/leaderboard/", {"project": world.project.pk}).json() == []
