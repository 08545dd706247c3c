"""Who may start model jobs on a project: one test per endpoint and role."""

import pytest

from annotation.models import Annotation
from models_registry.services.registry import register_model_version
from tests.annotation.factories import client_for, make_skeleton, make_world

from .models_fixtures import K, onnx_bytes, upload, version_fields

# role -> expected status of prelabel / evaluate on the world's project
EXPECTED = {
    "staff": 202, "org_admin": 202, "project_manager": 202,
    "org_qa_lead": 403, "vendor_manager_a": 403, "vendor_qa_lead_a": 403, "annotator_a": 403,
    "outsider": 404,
}


@pytest.fixture
def world_and_model(db):
    world = make_world(images=0)
    world.project.skeleton = make_skeleton(K)
    world.project.save()
    version = register_model_version(version_fields(world.project.skeleton, "onnx", mode="whole_image"),
                                     upload=upload(onnx_bytes()))
    return world, version


@pytest.mark.parametrize("role, expected", EXPECTED.items())
@pytest.mark.parametrize("endpoint", ["prelabel", "evaluate"])
def test_model_jobs_need_project_management_rights(world_and_model, role, expected, endpoint):
    world, version = world_and_model
    response = client_for(world[role]).post(f"/api/v1/models/{version.pk}/{endpoint}/",
                                            {"project": world.project.pk}, format="json")
    assert response.status_code == expected, response.data
    if expected != 202:
        assert response.data["detail"]


def test_bad_requests_name_the_field(world_and_model):
    world, version = world_and_model
    client = client_for(world["project_manager"])
    url = f"/api/v1/models/{version.pk}/prelabel/"
    cases = [
        ({}, "project"),
        ({"project": world.project.pk, "options": {"boxes": "detector"}}, "options"),  # onnx has no detector
        ({"project": world.project.pk, "options": {"batch_size": 10_000}}, "options"),
        ({"project": world.project.pk, "options": {"colour": "red"}}, "options"),
    ]
    for body, field in cases:
        response = client.post(url, body, format="json")
        assert response.status_code == 400 and field in response.data["errors"], (body, response.data)
    other_skeleton = register_model_version(version_fields(make_skeleton(K), "onnx", name="other"),
                                            upload=upload(onnx_bytes()))
    response = client.post(f"/api/v1/models/{other_skeleton.pk}/prelabel/", {"project": world.project.pk},
                           format="json")
    assert response.status_code == 400 and "skeleton" in response.data["errors"]["project"][0]
    assert not Annotation.objects.filter(source="model").exists()


def test_a_disabled_version_cannot_be_used(world_and_model, staff_client):
    world, version = world_and_model
    assert staff_client.patch(f"/api/v1/models/{version.pk}/", {"status": "disabled"}, format="json").status_code == 200
    response = client_for(world["project_manager"]).post(f"/api/v1/models/{version.pk}/prelabel/",
                                                         {"project": world.project.pk}, format="json")
    assert response.status_code == 400 and "disabled" in response.data["errors"]["model"][0]
    assert client_for(world["project_manager"]).patch(
        f"/api/v1/models/{version.pk}/", {"status": "ready"}, format="json").status_code == 403
