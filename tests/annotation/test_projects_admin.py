"""Admin of projects, images and annotations: browsable, and saving goes through the services' rules."""

import pytest
from django.test import Client

from annotation.models import Annotation, Project
from annotation.services.skeletons import create_skeleton

from .projects_fixtures import arm_skeleton, make_images, org, project  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


def test_changelists_show_projects_images_and_annotations(admin_client_, project):
    image = make_images(project, ["frame_0001.jpg"], status="accepted")[0]
    Annotation.objects.create(image=image, source="review", instances=[{"bbox": [0, 0, 1, 1], "keypoints": [0] * 9}])
    projects = admin_client_.get("/admin/annotation/project/").content.decode()
    assert "Arms" in projects
    assert "frame_0001.jpg" in admin_client_.get("/admin/annotation/image/").content.decode()
    detail = admin_client_.get(f"/admin/annotation/annotation/{Annotation.objects.get().pk}/change/").content.decode()
    assert "&quot;keypoints&quot;" in detail or '"keypoints"' in detail
    assert admin_client_.get("/admin/annotation/image/add/").status_code == 403


def test_admin_refuses_a_skeleton_change_under_annotations(admin_client_, project, org):
    other = create_skeleton({"name": "other", "keypoints": [{"name": "a", "sigma": 0.1}]})
    image = make_images(project, ["a.jpg"])[0]
    Annotation.objects.create(image=image, source="import", instances=[])
    form = {
        "organization": org.pk, "name": "Arms", "description": "", "skeleton": other.pk, "replicas": 3,
        "lease_seconds": 1800, "idle_limit_seconds": 300, "auto_accept_oks": 0.85, "review_sample_rate": 0.05,
        "gold_rate": 0, "is_active": "on", "show_prelabels": "on",
        "spot_check_share": 0.2, "qualification_images": 0, "qualification_oks": 0.75, "pause_window": 20,
    }
    response = admin_client_.post(f"/admin/annotation/project/{project.pk}/change/", form)
    assert response.status_code == 200  # the form comes back with the error
    assert "already has annotations" in response.content.decode()
    project.refresh_from_db()
    assert project.skeleton.name == "arm"
    form.update(skeleton=project.skeleton_id, replicas=5)
    assert admin_client_.post(f"/admin/annotation/project/{project.pk}/change/", form).status_code == 302
    assert Project.objects.get(pk=project.pk).replicas == 5


def test_admin_export_action_streams_coco(admin_client_, project):
    image = make_images(project, ["a.jpg"], status="accepted")[0]
    Annotation.objects.create(
        image=image, source="consensus", instances=[{"bbox": [0, 0, 5, 5], "keypoints": [1, 1, 2, 0, 0, 0, 0, 0, 0]}]
    )
    response = admin_client_.post(
        "/admin/annotation/project/", {"action": "export_accepted_coco", "_selected_action": [project.pk]}
    )
    import json

    data = json.loads(b"".join(response.streaming_content))
    assert [a["num_keypoints"] for a in data["annotations"]] == [1]
