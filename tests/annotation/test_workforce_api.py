"""A vendor manager's day: add annotators, put them on projects, take them off."""

import pytest

from annotation.models import Assignment, Image, Membership, ProjectAnnotator

from .factories import client_for, make_project, make_world

pytestmark = pytest.mark.django_db


def test_vendor_manager_adds_an_annotator_who_can_then_be_staffed_and_work():
    world = make_world(images=2)
    manager = client_for(world["vendor_manager_a"])
    vendor = world.vendor_a.pk
    created = manager.post(
        f"/api/v1/vendors/{vendor}/members/",
        {"handle": "maria", "email": "maria@example.com", "first_name": "Maria", "password": "a-long-Passphrase-42"},
        format="json",
    )
    assert created.status_code == 201, created.data
    assert created.data["role"] == "annotator" and created.data["user"]["username"] == f"v{vendor}.maria"
    assert created.data["projects"] == []
    maria = Membership.objects.get(pk=created.data["id"]).user
    assert maria.check_password("a-long-Passphrase-42")

    # Not yet on the project: no work.
    assert client_for(maria).post(f"/api/v1/projects/{world.project.pk}/tasks/next/").status_code == 403
    staffed = manager.post(
        f"/api/v1/vendors/{vendor}/staffing/", {"user": maria.pk, "project": world.project.pk}, format="json"
    )
    assert staffed.status_code == 201 and staffed.data["username"] == f"v{vendor}.maria"
    assert client_for(maria).post(f"/api/v1/projects/{world.project.pk}/tasks/next/").status_code == 201
    members = {m["user"]["username"]: m for m in manager.get(f"/api/v1/vendors/{vendor}/members/").data}
    assert members[f"v{vendor}.maria"]["projects"] == [world.project.pk]
    # Staffing twice is the same staffing.
    again = manager.post(
        f"/api/v1/vendors/{vendor}/staffing/", {"user": maria.pk, "project": world.project.pk}, format="json"
    )
    assert again.status_code == 201 and again.data["id"] == staffed.data["id"]
    assert ProjectAnnotator.objects.filter(user=maria).count() == 1


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"handle": "has space"}, "handle", "pattern"),
        ({"handle": "x" * 121}, "handle", "pattern"),
        ({"handle": "ok", "role": "vendor_manager"}, "role", "not a valid choice"),
        ({"handle": "ok", "email": "not-an-email"}, "email", "valid email"),
        ({"handle": "ok", "password": "123"}, "password", "too short"),
    ],
)
def test_bad_member_input_names_the_field(payload, field, message):
    world = make_world(images=0)
    response = client_for(world["vendor_manager_a"]).post(
        f"/api/v1/vendors/{world.vendor_a.pk}/members/", payload, format="json"
    )
    assert response.status_code == 400 and field in response.data["errors"]
    assert message in str(response.data["errors"][field]).lower() or message in response.data["detail"].lower()
    assert not Membership.objects.filter(user__username__endswith=".ok").exists()


def test_deactivating_an_annotator_ends_their_staffing_and_frees_their_lease():
    world = make_world(images=1, replicas=1)
    lease = client_for(world["annotator_a"]).post(f"/api/v1/projects/{world.project.pk}/tasks/next/").data
    membership = Membership.objects.get(user=world["annotator_a"], vendor=world.vendor_a)
    response = client_for(world["vendor_manager_a"]).patch(
        f"/api/v1/vendors/{world.vendor_a.pk}/members/{membership.pk}/", {"is_active": False}, format="json"
    )
    assert response.status_code == 200 and response.data["is_active"] is False
    assert Assignment.objects.get(pk=lease["id"]).state == "released"
    assert Image.objects.get(pk=lease["image"]["id"]).slots_taken == 0
    assert not ProjectAnnotator.objects.filter(user=world["annotator_a"]).exists()
    assert client_for(world["annotator_a"]).post(f"/api/v1/projects/{world.project.pk}/tasks/next/").status_code == 404
    # Their slot went back to the pool.
    assert client_for(world["annotator_a2"]).post(f"/api/v1/projects/{world.project.pk}/tasks/next/").status_code == 201


def test_unstaffing_releases_the_open_lease_on_that_project_only():
    world = make_world(images=1, replicas=1)
    other = make_project(world.organization, vendors=[world.vendor_a])
    from .factories import make_images

    make_images(other, 1)
    ProjectAnnotator.objects.create(project=other, user=world["annotator_a"], vendor=world.vendor_a)
    client = client_for(world["annotator_a"])
    here = client.post(f"/api/v1/projects/{world.project.pk}/tasks/next/").data
    there = client.post(f"/api/v1/projects/{other.pk}/tasks/next/").data
    staffing = ProjectAnnotator.objects.get(user=world["annotator_a"], project=world.project)
    response = client_for(world["vendor_manager_a"]).delete(f"/api/v1/vendors/{world.vendor_a.pk}/staffing/{staffing.pk}/")
    assert response.status_code == 204
    assert Assignment.objects.get(pk=here["id"]).state == "released"
    assert Assignment.objects.get(pk=there["id"]).state == "leased"


def test_vendor_projects_lists_the_grants():
    world = make_world(images=0)
    make_project(vendors=[world.vendor_b])  # someone else's project, granted to B only
    data = client_for(world["vendor_manager_a"]).get(f"/api/v1/vendors/{world.vendor_a.pk}/projects/").data
    assert [p["id"] for p in data] == [world.project.pk]
    assert data[0]["organization"] == world.organization.name


def test_acknowledgement_is_idempotent_and_validated():
    world = make_world(images=1)
    from .factories import with_instructions

    with_instructions(world.project, version=1)
    client = client_for(world["annotator_a"])
    url = f"/api/v1/projects/{world.project.pk}/instructions/acknowledge/"
    first = client.post(url, {"version": 1}, format="json")
    second = client.post(url, {"version": 1}, format="json")
    assert first.data == second.data
    bad = client.post(url, {"version": "one"}, format="json")
    assert bad.status_code == 400 and "version" in bad.data["errors"]
    assert client.get(f"/api/v1/projects/{world.project.pk}/instructions/").data["acknowledged"] is True
