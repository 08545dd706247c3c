"""COCO keypoints import: strict, explained, all-or-nothing, idempotent; real tools' files accepted."""

import copy
import io
import json
import math
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Annotation, Image
from annotation.services import coco_import
from jointly.jobs.models import JobRun

from .projects_fixtures import (  # noqa: F401  (fixtures)
    ARM_NAMES, annotation_table_counts, arm_skeleton, coco_file, make_images, manager_client, org, project,
)

pytestmark = pytest.mark.django_db


def post_coco(client, project, data, **params):
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    upload = io.BytesIO(body)
    upload.name = "coco.json"
    return client.post(f"/api/v1/projects/{project.pk}/import-coco/", {"file": upload, **params}, format="multipart")


def small_file():
    """Two images, three people, keypoints in the skeleton's order."""
    return coco_file(
        images=[{"id": 1, "file_name": "a.jpg", "width": 640, "height": 480},
                {"id": 2, "file_name": "b.jpg", "width": 640, "height": 480}],
        annotations=[
            {"id": 11, "image_id": 1, "category_id": 1, "bbox": [10, 20, 100, 200], "area": 15000.5, "iscrowd": 0,
             "num_keypoints": 3, "keypoints": [50, 60, 2, 80, 60, 1, 65, 40, 2]},
            {"id": 12, "image_id": 1, "category_id": 1, "bbox": [300, 100, 50, 60], "area": 2000, "iscrowd": 0,
             "num_keypoints": 1, "keypoints": [0, 0, 0, 320, 120, 2, 0, 0, 0]},
            {"id": 13, "image_id": 2, "category_id": 1, "bbox": [0, 0, 640, 480], "area": 307200, "iscrowd": 0,
             "num_keypoints": 2, "keypoints": [1.25, 2.5, 2, 639.5, 479.5, 2, 0, 0, 0]},
        ],
    )


@pytest.fixture
def images(project):
    return make_images(project, ["a.jpg", "b.jpg"])


def stored(project, source="import"):
    return {
        a.image.file_name: a.instances
        for a in Annotation.objects.filter(image__project=project, source=source).select_related("image")
    }


def test_import_stores_one_annotation_per_image_with_bbox_and_area(manager_client, project, images):
    response = post_coco(manager_client, project, small_file())
    assert response.status_code == 201, response.data
    result = response.data["result"]
    assert (result["images"], result["instances"], result["annotations_created"]) == (2, 3, 2)
    assert response.data["job"]["state"] == "finished"
    data = stored(project)
    assert data["a.jpg"][0] == {
        "bbox": [10.0, 20.0, 100.0, 200.0], "keypoints": [50.0, 60.0, 2, 80.0, 60.0, 1, 65.0, 40.0, 2], "area": 15000.5,
    }
    assert [i["keypoints"][3:5] for i in data["a.jpg"]] == [[80.0, 60.0], [320.0, 120.0]]
    assert len(data["b.jpg"]) == 1
    assert set(Image.objects.filter(project=project).values_list("coco_id", flat=True)) == {1, 2}


def test_reimport_is_idempotent_and_replaces_changed_content(manager_client, project, images):
    assert post_coco(manager_client, project, small_file()).status_code == 201
    first = dict(Annotation.objects.values_list("image__file_name", "id"))
    again = post_coco(manager_client, project, small_file())
    assert again.data["result"]["annotations_unchanged"] == 2
    assert dict(Annotation.objects.values_list("image__file_name", "id")) == first
    assert set(Annotation.objects.values_list("version", flat=True)) == {1}
    changed = small_file()
    changed["annotations"] = changed["annotations"][:1]
    response = post_coco(manager_client, project, changed)
    assert response.data["result"]["annotations_updated"] == 2  # a.jpg lost one person, b.jpg lost its only one
    assert Annotation.objects.count() == 2
    assert {f: len(i) for f, i in stored(project).items()} == {"a.jpg": 1, "b.jpg": 0}
    assert set(Annotation.objects.values_list("version", flat=True)) == {2}


def test_gold_import_marks_images_gold_and_keeps_import_source_apart(manager_client, project, images):
    post_coco(manager_client, project, small_file())
    response = post_coco(manager_client, project, small_file(), source="gold")
    assert response.status_code == 201
    assert Annotation.objects.filter(source="gold").count() == 2
    assert Annotation.objects.filter(source="import").count() == 2
    assert Image.objects.filter(project=project, is_gold=True).count() == 2


def test_keypoints_are_mapped_by_name_when_the_order_differs(manager_client, project, images):
    data = small_file()
    order = [2, 0, 1]  # the file lists neck, left_shoulder, right_shoulder
    data["categories"][0]["keypoints"] = [ARM_NAMES[j] for j in order]
    for ann in data["annotations"]:
        triples = [ann["keypoints"][3 * j:3 * j + 3] for j in range(3)]
        ann["keypoints"] = [c for j in order for c in triples[j]]
    response = post_coco(manager_client, project, data)
    assert response.status_code == 201
    assert stored(project)["a.jpg"][0]["keypoints"] == [50.0, 60.0, 2, 80.0, 60.0, 1, 65.0, 40.0, 2]


def _with(mutate):
    data = small_file()
    mutate(data)
    return data


def _set_kp(index, value):
    def mutate(data):
        data["annotations"][1]["keypoints"][index] = value
    return mutate


MALFORMED = {
    "wrong keypoint count": (
        _with(lambda d: d["annotations"][0]["keypoints"].extend([1, 1, 2])),
        "annotation 11: expected 3 keypoints (9 numbers) as the category lists, got 4 (12 numbers)",
    ),
    "v=3": (_with(_set_kp(5, 3)), "annotation 12: keypoint 1 (right_shoulder): v must be 0, 1 or 2, got 3"),
    "NaN": (
        json.dumps(_with(_set_kp(3, math.nan))).encode(),
        "annotation 12: keypoint 1 (right_shoulder): x, y and v must be finite numbers",
    ),
    "string coordinate": (_with(_set_kp(3, "12")), "annotation 12: keypoints and bbox must hold only numbers"),
    "unknown keypoint names": (
        _with(lambda d: d["categories"][0].update(keypoints=["left_shoulder", "right_shouldr", "head"])),
        "'right_shouldr' (did you mean 'right_shoulder'?)",
    ),
    "missing images": (
        _with(lambda d: d["images"].append({"id": 3, "file_name": "zzz.jpg", "width": 10, "height": 10})),
        "1 image(s) of the file are not in the project: 'zzz.jpg'",
    ),
    "truncated JSON": (json.dumps(small_file()).encode()[:-40], "looks truncated"),
    "garbage bytes": (b"\x89PNG\r\n\x1a\n\x00\x00garbage", "Not a JSON file"),
    "JSON but not COCO": (b'{"images": 3}', "'images' must be a list"),
    "keypoint outside the image": (_with(_set_kp(3, 900)), "keypoint 1 (right_shoulder) at (900, 120) is outside the 640x480 image"),
    "bbox outside the image": (
        _with(lambda d: d["annotations"][2].update(bbox=[600, 0, 100, 10])), "bbox [600, 0, 100, 10] is not inside",
    ),
    "image size differs": (
        _with(lambda d: d["images"][1].update(width=1280)), "the file says 1280x480, project image",
    ),
    "negative area": (_with(lambda d: d["annotations"][0].update(area=-1)), "area must be a finite non-negative number"),
    "unknown image id": (_with(lambda d: d["annotations"][0].update(image_id=99)), "image_id 99 is not in the file"),
    "duplicate annotation id": (_with(lambda d: d["annotations"][1].update(id=11)), "annotation id 11 is used more than once"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_input_is_a_400_naming_the_problem_and_writes_nothing(manager_client, project, images, case):
    data, expected = MALFORMED[case]
    before = annotation_table_counts()
    response = post_coco(manager_client, project, data)
    assert response.status_code == 400, response.data
    messages = " | ".join(m for ms in response.data["errors"].values() for m in ms)
    assert expected in messages
    assert annotation_table_counts() == before
    assert not Annotation.objects.exists()


def test_every_error_is_reported_capped_with_counts(manager_client, project, images):
    data = small_file()
    template = data["annotations"][0]
    data["annotations"] = []
    for i in range(1000):
        bad = copy.deepcopy(template)
        bad["id"] = i
        bad["keypoints"][2] = 7
        data["annotations"].append(bad)
    response = post_coco(manager_client, project, data)
    assert response.status_code == 400
    assert response.data["error_counts"] == {"visibility_invalid": 1000}
    shown = sum(len(v) for v in response.data["errors"].values())
    assert 200 <= shown <= 202
    assert "1000 problem(s)" in response.data["detail"]
    assert not Annotation.objects.exists()


def test_oversized_upload_is_a_413(manager_client, project, images, settings):
    settings.MAX_COCO_UPLOAD_BYTES = 300
    response = post_coco(manager_client, project, small_file())
    assert response.status_code == 413
    assert "MAX_COCO_UPLOAD_BYTES" in response.data["detail"]
    assert not JobRun.objects.exists()


def test_oversized_json_body_is_a_413(manager_client, project, images, settings):
    settings.MAX_COCO_UPLOAD_BYTES = 300
    response = manager_client.post(
        f"/api/v1/projects/{project.pk}/import-coco/", json.dumps(small_file()), content_type="application/json"
    )
    assert response.status_code == 413


def test_a_100_mb_garbage_upload_is_refused_from_its_first_bytes(manager_client, project, images, monkeypatch):
    def must_not_parse(*args, **kwargs):
        raise AssertionError("the garbage was parsed")

    monkeypatch.setattr(coco_import, "read_coco", must_not_parse)
    monkeypatch.setattr(coco_import.reading.orjson, "loads", must_not_parse)
    garbage = bytes(range(256)) * (100 * 1024 * 1024 // 256)
    before = annotation_table_counts()
    response = post_coco(manager_client, project, garbage)
    assert response.status_code == 400
    assert "Not a JSON file" in response.data["detail"]
    assert annotation_table_counts() == before
    assert not JobRun.objects.exists()


def test_a_garbage_json_body_is_refused_too(manager_client, project, images):
    before = annotation_table_counts()
    response = manager_client.post(
        f"/api/v1/projects/{project.pk}/import-coco/", b"\x00\x01garbage" * 100_000, content_type="application/json"
    )
    assert response.status_code == 400
    assert "Not a JSON file" in response.data["detail"]
    assert annotation_table_counts() == before


def test_json_body_is_accepted_too(manager_client, project, images):
    response = manager_client.post(
        f"/api/v1/projects/{project.pk}/import-coco/?source=gold", json.dumps(small_file()),
        content_type="application/json",
    )
    assert response.status_code == 201, response.data
    assert Annotation.objects.filter(source="gold").count() == 2


def test_bad_options_are_named(manager_client, project, images):
    response = post_coco(manager_client, project, small_file(), source="consensus")
    assert response.status_code == 400 and "source" in response.data["errors"]
    response = post_coco(manager_client, project, small_file(), category_id="person")
    assert response.status_code == 400 and "category_id" in response.data["errors"]
    assert not Annotation.objects.exists()


def test_dry_run_checks_and_writes_nothing(manager_client, project, images):
    response = post_coco(manager_client, project, small_file(), dry_run="1")
    assert response.status_code == 200
    assert response.data["result"]["dry_run"] is True
    assert response.data["result"]["instances"] == 3
    assert not Annotation.objects.exists()


def cvat_file():
    """What CVAT's "COCO Keypoints 1.0" export writes: segmentation, attributes, v=0 points with coordinates."""
    return {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {"contributor": "", "date_created": "", "description": "", "url": "", "version": "", "year": ""},
        "categories": [
            {"id": 1, "name": "skeleton", "supercategory": "", "keypoints": ["neck", "left_shoulder", "right_shoulder"],
             "skeleton": [[2, 1], [3, 1]]},
            {"id": 2, "name": "car", "supercategory": ""},
        ],
        "images": [
            {"id": 1, "width": 640, "height": 480, "file_name": "a.jpg", "license": 0, "flickr_url": "",
             "coco_url": "", "date_captured": 0},
            {"id": 2, "width": 640, "height": 480, "file_name": "b.jpg", "license": 0, "flickr_url": "",
             "coco_url": "", "date_captured": 0},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [], "area": 5000.0,
             "bbox": [10.0, 20.0, 100.0, 50.0], "iscrowd": 0, "attributes": {"occluded": False},
             "keypoints": [60.0, 30.0, 2, 20.0, 40.0, 0, 100.0, 40.0, 1], "num_keypoints": 2},
            {"id": 2, "image_id": 2, "category_id": 2, "segmentation": [[0, 0, 1, 1, 2, 2]], "area": 4.0,
             "bbox": [0, 0, 2, 2], "iscrowd": 0, "attributes": {}},
        ],
    }


def test_cvat_export_is_accepted_and_stray_v0_points_are_normalized(manager_client, project, images):
    response = post_coco(manager_client, project, cvat_file())
    assert response.status_code == 201, response.data
    warnings = " ".join(response.data["result"]["warnings"])
    assert "1 keypoint(s) with v=0 had non-zero x, y" in warnings
    assert "1 annotation(s) of other categories were ignored" in warnings
    (instance,) = stored(project)["a.jpg"]
    assert instance["keypoints"] == [0.0, 0.0, 0, 100.0, 40.0, 1, 60.0, 30.0, 2]
    assert stored(project)["b.jpg"] == []


def label_studio_file(names):
    return coco_file(
        images=[{"id": i, "file_name": name, "width": 640, "height": 480} for i, name in enumerate(names)],
        annotations=[{"id": 50 + i, "image_id": i, "category_id": 1, "bbox": [1, 1, 10, 10], "area": 100,
                      "keypoints": [5, 5, 2, 6, 6, 2, 7, 7, 2], "iscrowd": 0} for i in range(len(names))],
    )


def test_label_studio_paths_match_on_base_name(manager_client, project):
    make_images(project, ["abc.jpg", "def.jpg"])
    data = label_studio_file(["/data/upload/1/abc.jpg", "/data/upload/1/8f3a2b1c-def.jpg"])
    response = post_coco(manager_client, project, data)
    assert response.status_code == 201, response.data
    assert set(stored(project)) == {"abc.jpg", "def.jpg"}
    assert "matched by base name" in " ".join(response.data["result"]["warnings"])


def test_ambiguous_base_name_is_an_error(manager_client, project):
    make_images(project, ["cam1/0001.jpg", "cam2/0001.jpg"])
    response = post_coco(manager_client, project, label_studio_file(["images/0001.jpg"]))
    assert response.status_code == 400
    assert "matches 2 project images by base name" in response.data["detail"] + str(response.data["errors"])
    assert not Annotation.objects.exists()


def test_instance_without_bbox_gets_one_from_its_keypoints(manager_client, project, images):
    data = small_file()
    del data["annotations"][0]["bbox"]
    del data["annotations"][0]["area"]
    response = post_coco(manager_client, project, data)
    assert response.status_code == 201
    assert "1 annotation(s) had no bbox" in " ".join(response.data["result"]["warnings"])
    first = stored(project)["a.jpg"][0]
    assert first["bbox"] == [50.0, 40.0, 30.0, 20.0]
    assert first["area"] == 600.0


def test_category_choice(manager_client, project, images):
    data = small_file()
    data["categories"].append({"id": 7, "name": "robot", "keypoints": ["a", "b"], "skeleton": []})
    data["annotations"].append({"id": 99, "image_id": 1, "category_id": 7, "bbox": [0, 0, 1, 1], "keypoints": [0] * 6})
    assert post_coco(manager_client, project, data).status_code == 201  # "person" chosen by default
    assert post_coco(manager_client, project, data, category_id=7).status_code == 400  # robot keypoints unknown
    data["categories"][0]["name"] = "human"
    response = post_coco(manager_client, project, data)
    assert response.status_code == 400
    assert "choose one with category_id" in response.data["detail"]


def test_create_missing_images_points_records_at_files_under_image_root(manager_client, project, settings):
    root = Path(settings.MEDIA_ROOT) / "datasets" / "coco"
    root.mkdir(parents=True)
    (root / "a.jpg").write_bytes(b"jpeg")
    (root / "b.jpg").write_bytes(b"jpeg")
    response = post_coco(manager_client, project, small_file(), create_missing_images="1", image_root="datasets/coco")
    assert response.status_code == 201, response.data
    assert response.data["result"]["images_created"] == 2
    files = dict(Image.objects.filter(project=project).values_list("file_name", "file"))
    assert files == {"a.jpg": "datasets/coco/a.jpg", "b.jpg": "datasets/coco/b.jpg"}
    assert post_coco(manager_client, project, small_file(), create_missing_images="1").status_code == 201
    assert Image.objects.filter(project=project).count() == 2  # matched the second time, not created again


def test_create_missing_images_reports_files_that_are_not_there(manager_client, project, settings):
    (Path(settings.MEDIA_ROOT) / "datasets").mkdir(parents=True)
    response = post_coco(manager_client, project, small_file(), create_missing_images="1", image_root="datasets")
    assert response.status_code == 400
    assert "no file at 'datasets/a.jpg'" in str(response.data["errors"])
    traversal = post_coco(manager_client, project, small_file(), create_missing_images="1", image_root="../etc")
    assert traversal.status_code == 400 and "image_root" in str(traversal.data["errors"])
    uploads = post_coco(manager_client, project, small_file(), create_missing_images="1", image_root="projects/9")
    assert uploads.status_code == 400 and "own upload folders" in str(uploads.data["errors"])
    assert not Image.objects.exists()


def test_create_missing_images_without_root_trusts_the_file_sizes(manager_client, project):
    response = post_coco(manager_client, project, small_file(), create_missing_images="true")
    assert response.status_code == 201
    assert sorted(Image.objects.values_list("file_name", "width", "height", "file")) == [
        ("a.jpg", 640, 480, ""), ("b.jpg", 640, 480, "")]
    assert "created without a file" in " ".join(response.data["result"]["warnings"])


def test_import_coco_command(project, images, tmp_path):
    path = tmp_path / "in.json"
    path.write_text(json.dumps(small_file()))
    out = io.StringIO()
    call_command("import_coco", project.pk, str(path), "--source", "gold", stdout=out, stderr=io.StringIO(), verbosity=0)
    assert json.loads(out.getvalue())["instances"] == 3
    assert Annotation.objects.filter(source="gold").count() == 2
    path.write_text(json.dumps(_with(_set_kp(5, 3))))
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_coco", project.pk, str(path), stdout=io.StringIO(), stderr=err, verbosity=0)
    assert "v must be 0, 1 or 2" in err.getvalue()


@pytest.mark.django_db(transaction=True)
def test_with_a_worker_the_api_answers_202_and_the_job_ends_failed_with_every_error(
    manager_client, project, images, run_worker, settings, monkeypatch,
):
    monkeypatch.setenv("MEDIA_ROOT", str(settings.MEDIA_ROOT))  # the worker process reads the stored upload
    before = annotation_table_counts()
    response = post_coco(manager_client, project, _with(_set_kp(5, 3)))
    assert response.status_code == 202, response.data
    job_id = response.data["job"]["id"]
    assert JobRun.objects.get(pk=job_id).state == "queued"
    good = post_coco(manager_client, project, small_file())
    assert good.status_code == 202
    worker = run_worker("default")
    assert worker.returncode == 0, worker.stderr
    failed = manager_client.get(f"/api/v1/jobs/{job_id}/").data
    assert failed["state"] == "failed", failed
    assert failed["result"], failed["error"]
    assert "v must be 0, 1 or 2, got 3" in str(failed["result"]["errors"])
    assert failed["result"]["error_counts"] == {"visibility_invalid": 1}
    finished = manager_client.get(f"/api/v1/jobs/{good.data['job']['id']}/").data
    assert finished["state"] == "finished"
    assert finished["progress"] == 1.0
    assert finished["result"]["instances"] == 3
    assert annotation_table_counts()["annotation.Annotation"] == before["annotation.Annotation"] + 2


def test_missing_sizes_are_taken_from_matched_project_images(manager_client, project, images):
    data = small_file()
    for entry in data["images"]:
        del entry["width"], entry["height"]
    response = post_coco(manager_client, project, data)
    assert response.status_code == 201, response.data
    assert "2 image(s) had no width/height" in " ".join(response.data["result"]["warnings"])
    response = post_coco(manager_client, project, data, create_missing_images="1", category_id=1)
    assert response.status_code == 201  # still matched: no size needed
    data["images"].append({"id": 9, "file_name": "new.jpg"})
    response = post_coco(manager_client, project, data, create_missing_images="1")
    assert response.status_code == 400
    assert "image 9 'new.jpg': width and height are missing" in str(response.data["errors"])
