"""COCO keypoints export: accepted ground truth by default, any source on request, loads in pycocotools."""

import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from annotation.models import Annotation

from .projects_fixtures import (  # noqa: F401  (fixtures)
    arm_skeleton, make_images, manager_client, org, project,
)

pytestmark = pytest.mark.django_db


def person(x, y, v=2, score=None):
    instance = {"bbox": [x - 10, y - 10, 40, 40], "keypoints": [x, y, v, x + 10, y, v, x + 5, y + 10, v], "area": 1200.0}
    if score is not None:
        instance["score"] = score
    return instance


def export(client, project, **params):
    response = client.get(f"/api/v1/projects/{project.pk}/export-coco/", params)
    assert response.status_code == 200, getattr(response, "data", None)
    assert response.streaming
    return json.loads(b"".join(response.streaming_content))


@pytest.fixture
def pipeline(project, django_user_model):
    """accepted.jpg has consensus and review; consensus.jpg only consensus; pending.jpg is still in review."""
    accepted, consensus_only, pending = make_images(project, ["accepted.jpg", "consensus.jpg", "pending.jpg"])
    accepted.status = consensus_only.status = "accepted"
    pending.status = "review"
    for image in (accepted, consensus_only, pending):
        image.save()
    alice = django_user_model.objects.create_user("alice")
    bob = django_user_model.objects.create_user("bob")
    Annotation.objects.bulk_create([
        Annotation(image=accepted, source="consensus", instances=[person(100, 100), person(300, 300)]),
        Annotation(image=accepted, source="review", instances=[person(101, 101)]),
        Annotation(image=consensus_only, source="consensus", instances=[person(200, 200, v=1)]),
        Annotation(image=pending, source="consensus", instances=[person(50, 50)]),
        Annotation(image=accepted, source="annotator", annotator=alice, instances=[person(99, 99)]),
        Annotation(image=accepted, source="annotator", annotator=bob, instances=[person(98, 98), person(10, 10, v=0)]),
    ])
    return {"alice": alice, "bob": bob}


def test_default_export_is_accepted_ground_truth_review_over_consensus(manager_client, project, pipeline):
    data = export(manager_client, project)
    assert sorted(i["file_name"] for i in data["images"]) == ["accepted.jpg", "consensus.jpg"]
    by_image = {i["id"]: i["file_name"] for i in data["images"]}
    got = sorted((by_image[a["image_id"]], a["keypoints"][0]) for a in data["annotations"])
    assert got == [("accepted.jpg", 101.0), ("consensus.jpg", 200.0)]
    category = data["categories"][0]
    assert category["keypoints"] == ["left_shoulder", "right_shoulder", "neck"]
    assert category["skeleton"] == [[1, 3], [2, 3]]  # 1-based
    for a in data["annotations"]:
        assert (a["iscrowd"], a["num_keypoints"], a["area"], a["category_id"]) == (0, 3, 1200.0, category["id"])


def test_one_source_on_request_with_unique_ids(manager_client, project, pipeline):
    data = export(manager_client, project, source="annotator")
    assert len(data["annotations"]) == 3
    ids = [a["id"] for a in data["annotations"]]
    assert len(set(ids)) == len(ids)
    assert sorted(a["annotator_id"] for a in data["annotations"]) == sorted(
        [pipeline["alice"].pk, pipeline["bob"].pk, pipeline["bob"].pk])
    only_bob = export(manager_client, project, source="annotator", annotator=pipeline["bob"].pk)
    assert [a["num_keypoints"] for a in only_bob["annotations"]] == [3, 0]
    consensus = export(manager_client, project, source="consensus")
    assert len(consensus["images"]) == 3 and len(consensus["annotations"]) == 4


@pytest.mark.parametrize(
    "params, field",
    [({"source": "final"}, "source"), ({"source": "annotator", "annotator": "bob"}, "annotator"),
     ({"annotator": "3"}, "annotator")],
)
def test_bad_parameters_are_named(manager_client, project, params, field):
    response = manager_client.get(f"/api/v1/projects/{project.pk}/export-coco/", params)
    assert response.status_code == 400
    assert field in response.data["errors"]


def test_export_loads_in_pycocotools_and_cocoeval_runs(manager_client, project, pipeline, tmp_path):
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(export(manager_client, project, source="consensus")))
    gt = COCO(str(path))
    assert len(gt.getAnnIds()) == 4
    detections = [{**ann, "score": 0.9} for ann in gt.loadAnns(gt.getAnnIds())]
    evaluation = COCOeval(gt, gt.loadRes(detections), "keypoints")
    evaluation.params.kpt_oks_sigmas = np.array([0.079, 0.079, 0.05])
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)  # labels scored against themselves


def test_empty_export_is_still_valid_coco(manager_client, project):
    data = export(manager_client, project)
    assert (data["images"], data["annotations"], len(data["categories"])) == ([], [], 1)


def test_export_command_writes_the_same_file(manager_client, project, pipeline, tmp_path):
    path = tmp_path / "out.json"
    call_command("export_coco", project.pk, str(path), "--source", "review", stdout=io.StringIO(), verbosity=0)
    written = json.loads(path.read_text())
    served = export(manager_client, project, source="review")
    assert written["annotations"] == served["annotations"]
    assert written["images"] == served["images"]


def test_export_reads_annotations_in_constant_queries(manager_client, project, django_assert_max_num_queries):
    images = make_images(project, [f"{i}.jpg" for i in range(50)], status="accepted")
    Annotation.objects.bulk_create(Annotation(image=i, source="review", instances=[person(100, 100)]) for i in images)
    with django_assert_max_num_queries(10):
        data = export(manager_client, project)
    assert len(data["annotations"]) == 50
