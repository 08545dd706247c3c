"""`/api/v1/projects/`: create, configure, and who may see or change what."""

import pytest

from annotation.models import Annotation, Membership, Project, Vendor
from annotation.services.skeletons import create_skeleton

from .projects_fixtures import (  # noqa: F401  (fixtures)
    arm_skeleton, make_images, manager_client, member_client, org, other_org, project, vendor,
)

pytestmark = pytest.mark.django_db


def test_anonymous_is_refused(api_client, project):
    assert api_client.get("/api/v1/projects/").status_code in (401, 403)
    assert api_client.get(f"/api/v1/projects/{project.pk}/").status_code in (401, 403)


def test_manager_creates_a_project_with_defaults(manager_client, org, arm_skeleton):
    response = manager_client.post(
        "/api/v1/projects/", {"organization": org.pk, "name": "Hands", "skeleton": arm_skeleton.pk}, format="json"
    )
    assert response.status_code == 201, response.data
    project = Project.objects.get(pk=response.data["id"])
    assert (project.replicas, project.auto_accept_oks, project.organization) == (3, 0.85, org)
    assert response.data["skeleton_label"] == "arm v1"
    assert response.data["image_count"] == 0


def test_outsider_cannot_create_in_another_organization(django_user_model, other_org, arm_skeleton):
    outsider = member_client(django_user_model, "outsider", Membership.Role.PROJECT_MANAGER, organization=other_org)
    from annotation.models import Organization

    target = Organization.objects.create(name="Initech")
    response = outsider.post(
        "/api/v1/projects/", {"organization": target.pk, "name": "X", "skeleton": arm_skeleton.pk}, format="json"
    )
    assert response.status_code == 400
    assert "organization" in response.data["errors"]
    assert not Project.objects.filter(name="X").exists()


def test_qa_lead_of_the_organization_gets_403_on_create(django_user_model, org, arm_skeleton):
    qa = member_client(django_user_model, "qa", Membership.Role.QA_LEAD, organization=org)
    response = qa.post("/api/v1/projects/", {"organization": org.pk, "name": "Y", "skeleton": arm_skeleton.pk}, format="json")
    assert response.status_code == 403
    assert not Project.objects.filter(name="Y").exists()


def test_other_tenants_do_not_see_the_project(django_user_model, project, other_org):
    outsider = member_client(django_user_model, "outsider", Membership.Role.PROJECT_MANAGER, organization=other_org)
    assert outsider.get("/api/v1/projects/").data["count"] == 0
    for path in ("", "images/", "export-coco/"):
        assert outsider.get(f"/api/v1/projects/{project.pk}/{path}").status_code == 404
    assert outsider.patch(f"/api/v1/projects/{project.pk}/", {"name": "pwned"}, format="json").status_code == 404
    project.refresh_from_db()
    assert project.name == "Arms"


def test_vendor_manager_sees_but_cannot_manage_or_list_images(django_user_model, project, vendor):
    boss = member_client(django_user_model, "boss", Membership.Role.VENDOR_MANAGER, vendor=vendor)
    listing = boss.get("/api/v1/projects/")
    assert [p["id"] for p in listing.data["results"]] == [project.pk]
    assert boss.patch(f"/api/v1/projects/{project.pk}/", {"replicas": 9}, format="json").status_code == 403
    assert boss.get(f"/api/v1/projects/{project.pk}/images/").status_code == 403
    assert boss.get(f"/api/v1/projects/{project.pk}/export-coco/").status_code == 403
    assert boss.post(f"/api/v1/projects/{project.pk}/import-coco/", {}, format="json").status_code == 403
    project.refresh_from_db()
    assert project.replicas == 3


def test_vendor_side_sees_its_own_grant_but_not_the_other_vendors(django_user_model, manager_client, project, vendor):
    rival = Vendor.objects.create(name="Rival Labeling")
    rival.organizations.add(project.organization)
    project.vendors.add(rival)
    boss = member_client(django_user_model, "boss", Membership.Role.VENDOR_MANAGER, vendor=vendor)
    assert boss.get(f"/api/v1/projects/{project.pk}/").data["vendors"] == [vendor.pk]
    assert boss.get("/api/v1/projects/").data["results"][0]["vendors"] == [vendor.pk]
    assert sorted(manager_client.get(f"/api/v1/projects/{project.pk}/").data["vendors"]) == sorted([vendor.pk, rival.pk])


def test_annotators_do_not_list_images(django_user_model, project, vendor):
    annotator = member_client(django_user_model, "ann", Membership.Role.ANNOTATOR, vendor=vendor)
    make_images(project, ["secret.jpg"])
    response = annotator.get(f"/api/v1/projects/{project.pk}/images/")
    assert response.status_code in (403, 404)
    assert "secret.jpg" not in str(response.content)


def test_list_counts_images_in_few_queries(manager_client, project, org, arm_skeleton, django_assert_max_num_queries):
    make_images(project, ["a.jpg", "b.jpg"], status="accepted")
    make_images(project, ["c.jpg"])
    for i in range(5):
        Project.objects.create(organization=org, name=f"P{i}", skeleton=arm_skeleton)
    with django_assert_max_num_queries(5):  # count, page, vendors prefetch, visible vendors (+ membership lookup)
        response = manager_client.get("/api/v1/projects/")
    row = next(p for p in response.data["results"] if p["id"] == project.pk)
    assert (row["image_count"], row["accepted_count"]) == (3, 2)
    assert response.data["count"] == 6


@pytest.mark.parametrize(
    "change, field",
    [({"auto_accept_oks": 1.5}, "auto_accept_oks"), ({"replicas": 0}, "replicas"),
     ({"lease_seconds": 5}, "lease_seconds"), ({"gold_rate": -0.1}, "gold_rate")],
)
def test_bad_settings_are_rejected_naming_the_field(manager_client, project, change, field):
    response = manager_client.patch(f"/api/v1/projects/{project.pk}/", change, format="json")
    assert response.status_code == 400
    assert field in response.data["errors"]
    project.refresh_from_db()
    assert getattr(project, field) != change[field]


def test_manager_updates_settings_and_vendors(manager_client, project):
    from annotation.models import Vendor

    vendor = Vendor.objects.create(name="V")
    vendor.organizations.add(project.organization)
    response = manager_client.patch(
        f"/api/v1/projects/{project.pk}/", {"replicas": 5, "auto_accept_oks": 0.9, "vendors": [vendor.pk]}, format="json"
    )
    assert response.status_code == 200, response.data
    project.refresh_from_db()
    assert (project.replicas, project.auto_accept_oks) == (5, 0.9)
    assert list(project.vendors.all()) == [vendor]


def test_duplicate_name_in_organization_is_a_clear_400(manager_client, project, org, arm_skeleton):
    response = manager_client.post(
        "/api/v1/projects/", {"organization": org.pk, "name": "Arms", "skeleton": arm_skeleton.pk}, format="json"
    )
    assert response.status_code == 400
    assert "already exists" in response.data["detail"]
    assert Project.objects.filter(name="Arms").count() == 1


def test_skeleton_cannot_change_once_annotated(manager_client, project):
    other = create_skeleton({"name": "other", "keypoints": [{"name": "a", "sigma": 0.1}]})
    image = make_images(project, ["a.jpg"])[0]
    Annotation.objects.create(image=image, source="import", instances=[])
    response = manager_client.patch(f"/api/v1/projects/{project.pk}/", {"skeleton": other.pk}, format="json")
    assert response.status_code == 400
    assert "skeleton" in response.data["errors"]
    project.refresh_from_db()
    assert project.skeleton.name == "arm"


def test_prelabel_model_must_predict_the_project_skeleton(manager_client, project):
    from models_registry.models import ModelVersion

    other = create_skeleton({"name": "paw", "keypoints": [{"name": "toe", "sigma": 0.1}]})
    wrong = ModelVersion.objects.create(name="paws", skeleton=other)
    right = ModelVersion.objects.create(name="arms", skeleton=project.skeleton)
    response = manager_client.patch(f"/api/v1/projects/{project.pk}/", {"prelabel_model": wrong.pk}, format="json")
    assert response.status_code == 400
    assert "prelabel_model" in response.data["errors"]
    assert manager_client.patch(
        f"/api/v1/projects/{project.pk}/", {"prelabel_model": right.pk}, format="json").status_code == 200
    project.refresh_from_db()
    assert project.prelabel_model == right
