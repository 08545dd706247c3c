"""Pre-labels through a real RQ worker: tiny TorchScript and ONNX models made here, re-runs, failures."""

import numpy as np
import pytest

from annotation.models import Annotation
from jointly.jobs.models import JobRun
from models_registry.models import PrelabelRun
from models_registry.services.registry import register_model_version
from tests.annotation.factories import client_for, make_project, make_skeleton, make_user, grant, Role

from .models_fixtures import K, blob_image, onnx_bytes, store_image, torchscript_bytes, upload, version_fields

BLOBS = [(40.0, 50.0), (60.0, 90.0), (25.5, 100.25)]  # (x, y) of the bright spot in each 96x128 image


def blob_project():
    project = make_project(skeleton=make_skeleton(K))
    images = [store_image(project, blob_image(96, 128, x, y), f"blob{i}.png") for i, (x, y) in enumerate(BLOBS)]
    manager = make_user()
    grant(manager, Role.PROJECT_MANAGER, organization=project.organization)
    return project, images, manager


def predicted(version, image) -> np.ndarray:
    instances = Annotation.objects.get(image=image, source="model", pose_model=version).instances
    assert len(instances) == 1
    return np.asarray(instances[0]["keypoints"], dtype=float).reshape(K, 3), instances[0]


@pytest.mark.parametrize("runtime, make_file, boxes", [
    ("torchscript", torchscript_bytes, "annotations"),
    ("onnx", onnx_bytes, "image"),
])
def test_tiny_model_prelabels_a_project_on_a_real_worker(transactional_db, run_worker, runtime, make_file, boxes):
    project, images, manager = blob_project()
    if boxes == "annotations":  # top-down: boxes from imported labels around each blob
        for image, (x, y) in zip(images, BLOBS):
            Annotation.objects.create(image=image, source="import", instances=[{
                "bbox": [x - 20, y - 25, 40, 50], "keypoints": [x, y, 2] * K}])
    version = register_model_version(
        version_fields(project.skeleton, runtime, mode="top_down" if boxes == "annotations" else "whole_image"),
        upload=upload(make_file()))
    response = client_for(manager).post(f"/api/v1/models/{version.pk}/prelabel/",
                                        {"project": project.pk, "options": {"boxes": boxes, "batch_size": 2}},
                                        format="json")
    assert response.status_code == 202, response.data
    job = JobRun.objects.get(pk=response.data["job"])
    assert job.queue == "gpu" and job.state == "queued"
    worker = run_worker("gpu")
    job.refresh_from_db()
    assert job.state == "finished", (job.error, worker.stderr[-3000:])
    assert job.result == {"images": 3, "instances": 3, "created": 3, "updated": 0, "unchanged": 0}
    assert job.progress == 1.0
    for image, (x, y) in zip(images, BLOBS):
        kps, instance = predicted(version, image)
        # Every keypoint is at the blob: decoding, the crop and its inverse put it back within 1.5 px
        # (the network sees the image through 4x4 pooling of a 2x or 1.6x resampled crop).
        assert np.abs(kps[:, :2] - (x, y)).max() < 1.5, kps
        assert (kps[:, 2] == 2).all() and len(instance["scores"]) == K and min(instance["scores"]) > 0.99

    # A re-run updates in place: still one annotation per image and version.
    client_for(manager).post(f"/api/v1/models/{version.pk}/prelabel/", {"project": project.pk}, format="json")
    run_worker("gpu")
    assert Annotation.objects.filter(source="model", pose_model=version).count() == 3


def test_a_failing_model_fails_the_job_with_its_reason_and_writes_nothing(transactional_db, run_worker, settings):
    project, images, manager = blob_project()
    version = register_model_version(version_fields(project.skeleton, "torchscript", mode="whole_image"),
                                     upload=upload(torchscript_bytes()))
    # The stored file is damaged after registration (a bad disk, a botched copy).
    with open(version.weights.path, "wb") as fh:
        fh.write(b"PK\x03\x04 not really a zip")
    run = client_for(manager).post(f"/api/v1/models/{version.pk}/prelabel/", {"project": project.pk},
                                   format="json").data
    run_worker("gpu")
    job = JobRun.objects.get(pk=run["job"])
    assert job.state == "failed"
    assert job.error.startswith("Not a TorchScript archive") or "cannot be loaded" in job.error.splitlines()[0]
    assert not Annotation.objects.filter(source="model").exists()


def test_an_unreadable_image_fails_the_job_naming_it_and_nothing_is_written(transactional_db, run_worker):
    project, images, manager = blob_project()
    version = register_model_version(version_fields(project.skeleton, "onnx", mode="whole_image"),
                                     upload=upload(onnx_bytes()))
    with open(images[2].file.path, "wb") as fh:
        fh.write(b"this is not a png")
    run = client_for(manager).post(f"/api/v1/models/{version.pk}/prelabel/",
                                   {"project": project.pk, "options": {"batch_size": 1}}, format="json").data
    run_worker("gpu")
    job = JobRun.objects.get(pk=run["job"])
    assert job.state == "failed" and "blob2.png" in job.error.splitlines()[0]
    # Two images had been predicted before the third failed: none of it was written.
    assert not Annotation.objects.filter(source="model").exists()


@pytest.mark.django_db
def test_a_cancelled_run_writes_nothing(monkeypatch):
    project, images, manager = blob_project()
    version = register_model_version(version_fields(project.skeleton, "onnx", mode="whole_image"),
                                     upload=upload(onnx_bytes()))
    from models_registry.services import model_runs

    real = model_runs.read_rgb

    def cancel_during_first_batch(image):
        PrelabelRun.objects.update(cancel_requested=True)  # someone presses cancel while batch 1 runs
        return real(image)

    monkeypatch.setattr(model_runs, "read_rgb", cancel_during_first_batch)
    run = client_for(manager).post(f"/api/v1/models/{version.pk}/prelabel/",
                                   {"project": project.pk, "options": {"batch_size": 1}}, format="json").data
    job = JobRun.objects.get(pk=run["job"])
    assert job.state == "failed" and job.error.startswith("Cancelled after 1 of 3 images; nothing was written.")
    assert not Annotation.objects.filter(source="model").exists()


@pytest.mark.django_db
def test_cancel_endpoint_is_for_the_projects_managers_only():
    project, images, manager = blob_project()
    version = register_model_version(version_fields(project.skeleton, "onnx", mode="whole_image"),
                                     upload=upload(onnx_bytes()))
    run = PrelabelRun.objects.create(model_version=version, project=project, options={})
    assert client_for(make_user()).post(f"/api/v1/models/prelabel-runs/{run.pk}/cancel/").status_code == 404
    run.refresh_from_db()
    assert not run.cancel_requested
    response = client_for(manager).post(f"/api/v1/models/prelabel-runs/{run.pk}/cancel/")
    assert response.status_code == 200 and response.data["cancel_requested"] is True
    run.refresh_from_db()
    assert run.cancel_requested


@pytest.mark.django_db
def test_workforce_numbers_record_how_far_annotators_moved_the_prelabels():
    from datetime import timedelta

    from annotation.models import ProjectAnnotator, Vendor
    from annotation.engine import next_task, submit_assignment
    from django.utils import timezone

    project, images, manager = blob_project()
    vendor = Vendor.objects.create(name="V")
    project.vendors.add(vendor)
    version = register_model_version(version_fields(project.skeleton, "onnx", mode="whole_image"),
                                     upload=upload(onnx_bytes()))
    project.prelabel_model = version
    project.replicas = 1
    project.save()
    annotator = make_user()
    grant(annotator, Role.ANNOTATOR, vendor=vendor)
    ProjectAnnotator.objects.create(project=project, user=annotator, vendor=vendor)
    client_for(manager).post(f"/api/v1/models/{version.pk}/prelabel/", {"project": project.pk}, format="json")
    now = timezone.now()
    for step in range(2):
        assignment, _ = next_task(annotator, project, vendor_id=vendor.pk, now=now)
        shown = client_for(annotator).get(f"/api/v1/assignments/{assignment.pk}/").data["prelabel"]
        assert shown["model"] == {"id": version.pk, "name": version.name, "version": "1"}
        kps = np.asarray(shown["instances"][0]["keypoints"], dtype=float).reshape(K, 3)
        kps[0, :2] += (3.0, 4.0)  # moved 5 px
        kps[1, 2] = 0  # deleted: not compared
        kps[1, :2] = 0
        submit_assignment(assignment, [{"bbox": shown["instances"][0]["bbox"], "keypoints": kps.ravel().tolist()}],
                          client_active_ms=1000, now=now + timedelta(seconds=1))
    response = client_for(manager).get("/api/v1/workforce/stats/", {"group_by": "project"})
    row = response.data["results"][0]
    assert row["prelabel_shift"] == {"keypoints": 4, "mean_px": 2.5, "per_keypoint_px": [5.0, None, 0.0]}


@pytest.mark.django_db
def test_python_runtime_prelabels_with_its_own_detection_when_no_boxes_exist():
    """boxes=auto on images without labels: the python runtime gets boxes=None and finds objects itself."""
    project, images, manager = blob_project()
    version = register_model_version(version_fields(
        project.skeleton, "python", callable_path="tests.models_registry.python_model.make_predictor",
        score_threshold=0.9, below_threshold_visibility=1))
    run = client_for(manager).post(f"/api/v1/models/{version.pk}/prelabel/", {"project": project.pk},
                                   format="json").data
    assert JobRun.objects.get(pk=run["job"]).state == "finished"
    kps, instance = predicted(version, images[0])
    # The test predictor puts every keypoint at the center of the whole 96x128 image; scores 0.8 < 0.9 -> v=1.
    assert kps.tolist() == [[48.0, 64.0, 1.0]] * K and instance["scores"] == [0.8] * K
    assert instance["bbox"] == [48.0, 64.0, 0.0, 0.0]  # no box given: the keypoints' extent


@pytest.mark.django_db
def test_a_simcc_model_with_two_outputs_prelabels_top_down():
    from .models_fixtures import simcc_torchscript_bytes

    project, images, manager = blob_project()
    for image, (x, y) in zip(images, BLOBS):
        Annotation.objects.create(image=image, source="consensus", instances=[{
            "bbox": [x - 15, y - 20, 30, 40], "keypoints": [x, y, 2] * K}])
    version = register_model_version(version_fields(project.skeleton, "torchscript", mode="top_down",
                                                    decoding="simcc", simcc_split_ratio=2.0),
                                     upload=upload(simcc_torchscript_bytes()))
    assert version.check_report["output_shapes"] == [[1, K, 384], [1, K, 512]]
    run = client_for(manager).post(f"/api/v1/models/{version.pk}/prelabel/", {"project": project.pk},
                                   format="json").data
    assert JobRun.objects.get(pk=run["job"]).state == "finished"
    for image, (x, y) in zip(images, BLOBS):
        kps, _ = predicted(version, image)
        assert np.abs(kps[:, :2] - (x, y)).max() < 1.5, kps


@pytest.mark.parametrize("error, reason", [
    (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "ran out of memory at batch size 64"),
    (MemoryError(), "Out of memory at batch size 64"),
    (ValueError("The model returned (1, 5, 64, 48)"), "does not fit its declaration"),
    (RuntimeError("shape mismatch\nat line 3"), "The model failed: shape mismatch"),
])
def test_model_failures_are_explained_for_a_person(error, reason):
    from models_registry.services.model_runs import ModelJobFailed, explained_failures

    with pytest.raises(ModelJobFailed, match=reason):
        with explained_failures(64):
            raise error
