"""The admin registers versions through the same checks as the API, and lists the leaderboard."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from models_registry.models import Evaluation, ModelVersion
from tests.annotation.factories import make_project, make_skeleton

from .models_fixtures import K, NAMES, torchscript_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff_user):
    client.force_login(staff_user)
    return client


def add_form(skeleton, data: bytes, **extra) -> dict:
    import json

    return {
        "name": "blob", "version": "1", "skeleton": skeleton.pk, "runtime": "torchscript", "description": "",
        "output_keypoints": json.dumps(NAMES), "keypoint_mapping": "{}", "options": "{}", "callable_path": "",
        "preset": "", "mode": "whole_image", "input_width": 192, "input_height": 256, "mean": "[0, 0, 0]",
        "std": "[1, 1, 1]", "channel_order": "rgb", "box_padding": 1.25, "decoding": "heatmap",
        "simcc_split_ratio": 2.0, "score_threshold": 0.3, "below_threshold_visibility": 1,
        "weights": SimpleUploadedFile("m.pt", data), **extra,
    }


def test_admin_add_refuses_a_corrupt_file_with_its_reason(admin_client, settings):
    response = admin_client.post("/admin/models_registry/modelversion/add/", add_form(make_skeleton(K), b"junk" * 50))
    assert response.status_code == 200  # the form again, with the error
    assert "Not a TorchScript archive" in response.content.decode()
    assert not ModelVersion.objects.exists()


def test_admin_add_checks_and_stores_a_good_file(admin_client, settings, staff_user):
    response = admin_client.post("/admin/models_registry/modelversion/add/",
                                 add_form(make_skeleton(K), torchscript_bytes()))
    assert response.status_code == 302, response.context["adminform"].form.errors
    version = ModelVersion.objects.get()
    assert version.is_usable and version.created_by == staff_user and version.check_report["output_shapes"]
    assert version.keypoint_mapping == {n: n for n in NAMES}
    # After its checks only what cannot invalidate them is editable.
    page = admin_client.get(f"/admin/models_registry/modelversion/{version.pk}/change/").content.decode()
    assert 'name="score_threshold"' in page and 'name="input_width"' not in page


def test_admin_leaderboard_lists_best_ap_first(admin_client):
    project = make_project(skeleton=make_skeleton(K))
    for name, ap in (("weak", 0.2), ("strong", 0.8)):
        version = ModelVersion.objects.create(name=name, skeleton=project.skeleton)
        Evaluation.objects.create(model_version=version, project=project, ap=ap, ap50=ap, ap75=ap, apm=ap,
                                  apl=ap, ar=ap)
    page = admin_client.get(f"/admin/models_registry/evaluation/?project__id__exact={project.pk}").content.decode()
    assert page.index("strong 1") < page.index("weak 1")
