"""Uploads are checked before a version exists: a bad one is refused with its reason and nothing is stored."""

import io
import pickle

import pytest

from models_registry.models import ModelVersion
from tests.annotation.factories import client_for, make_skeleton, make_user

from .models_fixtures import K, NAMES, onnx_bytes, torchscript_bytes


def post_model(client, skeleton, data: bytes, runtime="torchscript", names=NAMES, **extra):
    fields = {
        "name": "pose", "version": "1", "skeleton": skeleton.pk, "runtime": runtime, "mode": "whole_image",
        "output_keypoints": __import__("json").dumps(names), "mean": "[0, 0, 0]", "std": "[1, 1, 1]",
        "weights": io.BytesIO(data), **extra,
    }
    fields["weights"].name = "model.bin"
    return client.post("/api/v1/models/", fields, format="multipart")


def nothing_stored(settings) -> bool:
    stored = settings.MEDIA_ROOT / "models"
    return not ModelVersion.objects.exists() and (not stored.exists() or not any(stored.rglob("*")))


class Evil:
    def __reduce__(self):
        return (print, ("this would run on the worker",))


@pytest.mark.django_db
@pytest.mark.parametrize("runtime, data, field, message", [
    ("torchscript", b"\x00garbage" * 100, "weights", "Not a TorchScript archive"),
    ("onnx", b"\x08\x07garbage that is no protobuf" * 10, "weights", "cannot be loaded"),
    ("torchscript", pickle.dumps(Evil()), "weights", "Python pickle"),
    ("onnx", pickle.dumps(Evil()), "weights", "Python pickle"),
])
def test_corrupt_files_and_pickles_are_refused_with_a_reason(staff_client, settings, runtime, data, field, message):
    response = post_model(staff_client, make_skeleton(K), data, runtime=runtime)
    assert response.status_code == 400
    assert message in response.data["errors"][field][0] and message in response.data["detail"]
    assert nothing_stored(settings)


@pytest.mark.django_db
def test_a_torch_save_checkpoint_disguised_as_torchscript_is_never_unpickled(staff_client, settings):
    import torch

    buffer = io.BytesIO()
    torch.save({"weights": torch.zeros(3), "evil": Evil()}, buffer)  # a zip holding data.pkl, no TorchScript code
    response = post_model(staff_client, make_skeleton(K), buffer.getvalue())
    assert response.status_code == 400
    assert "torch.save() checkpoint" in response.data["errors"]["weights"][0]
    assert nothing_stored(settings)


@pytest.mark.django_db
@pytest.mark.parametrize("runtime, make", [("torchscript", torchscript_bytes), ("onnx", onnx_bytes)])
def test_output_shape_must_match_the_declared_keypoints(staff_client, settings, runtime, make):
    skeleton = make_skeleton(5)
    response = post_model(staff_client, skeleton, make(num_keypoints=5), runtime=runtime, names=NAMES)  # 3 declared
    assert response.status_code == 400
    error = response.data["errors"]["weights"][0]
    assert "(1, 5, 64, 48)" in error and "3 declared keypoints" in error
    assert nothing_stored(settings)


@pytest.mark.django_db
def test_a_file_over_the_size_limit_is_refused(staff_client, settings):
    settings.MODEL_MAX_UPLOAD_BYTES = 1000
    response = post_model(staff_client, make_skeleton(K), torchscript_bytes())
    assert response.status_code == 400 and "limit" in response.data["errors"]["weights"][0]
    assert nothing_stored(settings)


@pytest.mark.django_db
def test_a_good_upload_is_checked_and_stored(staff_client, settings):
    skeleton = make_skeleton(K)
    response = post_model(staff_client, skeleton, torchscript_bytes())
    assert response.status_code == 201, response.data
    version = ModelVersion.objects.get()
    assert version.is_usable and version.check_report["output_shapes"] == [[1, K, 64, 48]]
    assert version.keypoint_mapping == {"kp0": "kp0", "kp1": "kp1", "kp2": "kp2"}
    assert version.weights.name == f"models/{version.sha256[:2]}/{version.sha256}.pt"
    # The same name and version again is a clear 400.
    again = post_model(staff_client, skeleton, torchscript_bytes())
    assert again.status_code == 400 and "already has a version" in again.data["errors"]["version"][0]


@pytest.mark.django_db
def test_only_staff_register_models_and_everyone_signed_in_reads_them(staff_client, settings):
    skeleton = make_skeleton(K)
    assert post_model(client_for(make_user()), skeleton, torchscript_bytes()).status_code == 403
    assert post_model(staff_client, skeleton, torchscript_bytes()).status_code == 201
    assert client_for(None).get("/api/v1/models/").status_code in (401, 403)
    listed = client_for(make_user()).get("/api/v1/models/").data
    assert [m["name"] for m in listed["results"]] == ["pose"]
    assert "weights" not in listed["results"][0] and listed["results"][0]["has_weights"] is True


@pytest.mark.django_db
def test_python_runtime_loads_weights_only_state_dicts(staff_client, settings):
    import torch

    skeleton = make_skeleton(K)
    buffer = io.BytesIO()
    torch.save({"offset": torch.tensor([5.0, 7.0])}, buffer)
    ok = post_model(staff_client, skeleton, buffer.getvalue(), runtime="python",
                    callable_path="tests.models_registry.python_model.make_predictor")
    assert ok.status_code == 201, ok.data
    evil = post_model(staff_client, skeleton, pickle.dumps(Evil()), runtime="python", version="2",
                      callable_path="tests.models_registry.python_model.make_predictor")
    assert evil.status_code == 400 and "weights_only" in evil.data["errors"]["weights"][0]
    missing = post_model(staff_client, skeleton, buffer.getvalue(), runtime="python", version="3",
                         callable_path="tests.models_registry.nowhere.make_predictor")
    assert missing.status_code == 400 and "Cannot import" in missing.data["errors"]["callable_path"][0]


@pytest.mark.django_db
@pytest.mark.parametrize("factory, message", [
    ("broken_factory", "libfoo.so"),
    ("wrong_shape_factory", "expected (N, 3, 2) for the 3 declared keypoints"),
])
def test_python_factories_that_fail_or_mismatch_are_refused(staff_client, settings, factory, message):
    response = staff_client.post("/api/v1/models/", {
        "name": "mine", "skeleton": make_skeleton(K).pk, "runtime": "python", "output_keypoints": NAMES,
        "callable_path": f"tests.models_registry.python_model.{factory}"}, format="json")
    assert response.status_code == 400 and message in response.data["errors"].get("callable_path", [""])[0], response.data
    assert nothing_stored(settings)


@pytest.mark.django_db
def test_mediapipe_presets_take_no_upload(staff_client, settings):
    response = post_model(staff_client, make_skeleton(K), torchscript_bytes(), runtime="mediapipe", preset="pose")
    assert response.status_code == 400 and "upload nothing" in response.data["errors"]["weights"][0]
    assert nothing_stored(settings)


@pytest.mark.django_db
def test_mediapipe_options_are_bounded(staff_client):
    body = {"name": "mp", "skeleton": make_skeleton(K).pk, "runtime": "mediapipe", "preset": "hand",
            "options": {"max_instances": 10_000}}
    response = staff_client.post("/api/v1/models/", body, format="json")
    assert response.status_code == 400 and "max_instances" in response.data["errors"]["options"][0]
    assert not ModelVersion.objects.exists()
