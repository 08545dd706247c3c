"""Evaluation equals pycocotools run directly on the same two files; scores are scoped to the project."""

import contextlib
import io

import numpy as np
import orjson
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from annotation.models import Annotation, Image
from jointly.jobs.models import JobRun
from models_registry.models import Evaluation
from models_registry.services.registry import register_model_version
from tests.annotation.factories import Role, client_for, grant, make_project, make_skeleton, make_user

from .models_fixtures import K, blob_image, onnx_bytes, store_image, upload, version_fields

# Ground truth deliberately off the blob by a few pixels, different per keypoint, so the scores are not 1.
OFFSETS = np.array([[0.0, 0.0], [3.0, -2.0], [-6.0, 5.0]])


def evaluated_project():
    skeleton = make_skeleton(K)
    project = make_project(skeleton=skeleton)
    rng = np.random.default_rng(3)
    for i in range(6):
        x, y = rng.uniform(25, 70), rng.uniform(30, 100)
        image = store_image(project, blob_image(96, 128, x, y), f"gt{i}.png", status="accepted")
        kps = np.column_stack([np.array([x, y]) + OFFSETS, np.full(K, 2.0)])
        if i == 5:
            kps[2] = 0  # one keypoint not labeled
        Annotation.objects.create(image=image, source="consensus", instances=[{
            "bbox": [x - 15, y - 20, 30, 40], "keypoints": kps.ravel().tolist()}])
    store_image(project, blob_image(96, 128, 50, 50), "not-accepted.png")  # not ground truth: not evaluated
    manager = make_user()
    grant(manager, Role.PROJECT_MANAGER, organization=project.organization)
    version = register_model_version(version_fields(skeleton, "onnx", mode="top_down"), upload=upload(onnx_bytes()))
    return project, version, manager


def run_cocoeval(gt: dict, dt: list, sigmas) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dt)
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


@pytest.mark.django_db
def test_evaluation_equals_pycocotools_on_the_same_files():
    project, version, manager = evaluated_project()
    client = client_for(manager)
    response = client.post(f"/api/v1/models/{version.pk}/evaluate/", {"project": project.pk}, format="json")
    assert response.status_code == 202
    job = JobRun.objects.get(pk=response.data["id"])
    assert job.state == "finished", job.error
    evaluation = Evaluation.objects.get(model_version=version, project=project)

    gt = orjson.loads(b"".join(client.get(f"/api/v1/projects/{project.pk}/export-coco/").streaming_content))
    with evaluation.detections.open("rb") as fh:
        dt = orjson.loads(fh.read())
    assert len(dt) == 6 and {d["image_id"] for d in dt} == {im["id"] for im in gt["images"]}
    stats = run_cocoeval(gt, dt, [0.05] * K)
    assert [evaluation.ap, evaluation.ap50, evaluation.ap75, evaluation.apm, evaluation.apl, evaluation.ar] == \
        pytest.approx([stats[0], stats[1], stats[2], stats[3], stats[4], stats[5]], abs=1e-12)
    assert 0 < evaluation.ap < 1  # the offsets make it neither perfect nor useless

    # PCK: keypoint 0 sits on the blob, 1 is 3.6 px off, 2 is 7.8 px off; boxes are 40 px: 0.05 -> 2 px, 0.1 -> 4 px.
    per_kp = evaluation.metrics["per_keypoint_pck"]
    assert per_kp["0.05"][0] == 1.0 and per_kp["0.05"][2] == 0.0
    assert per_kp["0.1"][1] == 1.0 and per_kp["0.1"][2] == 0.0
    assert evaluation.metrics["per_keypoint_oks"][0] > evaluation.metrics["per_keypoint_oks"][1] > \
        evaluation.metrics["per_keypoint_oks"][2]

    # A second run replaces the stored evaluation.
    client.post(f"/api/v1/models/{version.pk}/evaluate/", {"project": project.pk}, format="json")
    assert Evaluation.objects.filter(model_version=version, project=project).count() == 1


@pytest.mark.django_db
def test_leaderboard_and_evaluations_are_scoped_to_the_project():
    project, version, manager = evaluated_project()
    client_for(manager).post(f"/api/v1/models/{version.pk}/evaluate/", {"project": project.pk}, format="json")
    board = client_for(manager).get(f"/api/v1/models/leaderboard/?project={project.pk}")
    assert board.status_code == 200 and [row["model"]["id"] for row in board.data] == [version.pk]
    outsider = client_for(make_user())
    assert outsider.get(f"/api/v1/models/leaderboard/?project={project.pk}").status_code == 404
    assert outsider.get(f"/api/v1/models/{version.pk}/evaluations/").data == []
    assert len(client_for(manager).get(f"/api/v1/models/{version.pk}/evaluations/").data) == 1
    assert client_for(manager).get("/api/v1/models/leaderboard/").status_code == 400


@pytest.mark.django_db
def test_evaluation_without_ground_truth_fails_with_a_reason():
    project = make_project(skeleton=make_skeleton(K))
    manager = make_user()
    grant(manager, Role.PROJECT_MANAGER, organization=project.organization)
    version = register_model_version(version_fields(project.skeleton, "onnx"), upload=upload(onnx_bytes()))
    response = client_for(manager).post(f"/api/v1/models/{version.pk}/evaluate/", {"project": project.pk},
                                        format="json")
    job = JobRun.objects.get(pk=response.data["id"])
    assert job.state == "failed" and "no accepted ground truth" in job.error.splitlines()[0]
    assert not Evaluation.objects.exists()
