"""Django admin for the workforce: pages render with the data, actions go through the services."""

import pytest

from annotation.models import Assignment, Image, Membership, ProjectAnnotator
from annotation.engine import next_task

from annotation.services.workforce import acknowledge_instructions

from .factories import make_user, make_world, with_instructions

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(
    "model", ["organization", "vendor", "membership", "projectannotator", "assignment", "instructionsacknowledgement"]
)
def test_changelists_list_the_rows(admin_client, model):
    world = make_world(images=1)
    with_instructions(world.project)
    acknowledge_instructions(world["annotator_a"], world.project, version=1)
    next_task(world["annotator_a"], world.project, vendor_id=world.vendor_a.pk)
    response = admin_client.get(f"/admin/annotation/{model}/")
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


def test_assignments_cannot_be_added_or_edited_by_hand(admin_client):
    world = make_world(images=1)
    lease, _ = next_task(world["annotator_a"], world.project, vendor_id=world.vendor_a.pk)
    assert admin_client.get("/admin/annotation/assignment/add/").status_code == 403
    page = admin_client.get(f"/admin/annotation/assignment/{lease.pk}/change/")
    assert page.status_code == 200 and "state" in page.context["adminform"].readonly_fields


def test_release_action_frees_the_slot_through_the_engine(admin_client):
    world = make_world(images=1, replicas=1)
    lease, _ = next_task(world["annotator_a"], world.project, vendor_id=world.vendor_a.pk)
    response = admin_client.post(
        "/admin/annotation/assignment/", {"action": "release_leases", "_selected_action": [lease.pk]}, follow=True
    )
    assert response.status_code == 200 and b"Released 1 lease" in response.content
    assert Assignment.objects.get(pk=lease.pk).state == "released"
    assert Image.objects.get(pk=lease.image_id).slots_taken == 0


def test_deactivate_action_ends_staffing(admin_client):
    world = make_world(images=1)
    membership = Membership.objects.get(user=world["annotator_a"], vendor=world.vendor_a)
    admin_client.post("/admin/annotation/membership/", {"action": "deactivate", "_selected_action": [membership.pk]})
    membership.refresh_from_db()
    assert not membership.is_active
    assert not ProjectAnnotator.objects.filter(user=world["annotator_a"]).exists()


def test_staffing_form_refuses_a_project_not_granted_to_the_vendor(admin_client):
    world = make_world(images=1)
    world.project.vendors.remove(world.vendor_b)
    spare = make_user()
    Membership.objects.create(user=spare, role="annotator", vendor=world.vendor_b)
    response = admin_client.post("/admin/annotation/projectannotator/add/", {
        "project": world.project.pk, "user": spare.pk, "vendor": world.vendor_b.pk,
    })
    assert response.status_code == 200  # the form again, with the error
    assert "is not granted to" in str(response.context["adminform"].form.errors["project"])
    assert not ProjectAnnotator.objects.filter(user=spare).exists()
    Membership.objects.create(user=spare, role="annotator", vendor=world.vendor_a)
    created = admin_client.post("/admin/annotation/projectannotator/add/", {
        "project": world.project.pk, "user": spare.pk, "vendor": world.vendor_a.pk,
    })
    assert created.status_code == 302 and ProjectAnnotator.objects.filter(user=spare, vendor=world.vendor_a).exists()
