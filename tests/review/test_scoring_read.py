"""What scoring reads and stores: the labels' binary numbers match their JSON, malformed labels are
named, and flags are stored as codes and served with their sentence."""

import numpy as np
import pytest
from django.db import connection
from rest_framework.test import APIClient

from annotation.models import Annotation, Image
from review.agreement import FLAG_CODES
from review.models import ConsensusResult, ReviewTask
from review.services.scoring import score_images
from review.services.scoring_rows import ImageRows, load_rows

from .scoring_fixtures import make_scored_world

pytestmark = pytest.mark.django_db


def read(world, cap=None):
    spec = world.project.skeleton.spec()
    return load_rows(ImageRows.of(Image.objects.filter(project=world.project)), spec, cap)


def test_scoring_reads_exactly_the_numbers_of_the_json_labels():
    world = make_scored_world(6, seed=31)
    first = Annotation.objects.filter(image__project=world.project, source="annotator").order_by("pk").first()
    first.instances[0]["area"] = 1234.5  # the fixture stores no area: the box's area stands in for the rest
    first.save()
    rows = read(world)
    expected = {}
    for ann in Annotation.objects.filter(image__project=world.project, source="annotator"):
        for index, inst in enumerate(ann.instances):
            expected[(ann.pk, index)] = inst
    assert len(rows.batch) == len(expected)
    for n, key in enumerate(zip(rows.annotation_id.tolist(), rows.instance_index.tolist())):
        inst = expected[key]
        kp = np.asarray(inst["keypoints"], dtype=float).reshape(17, 3)
        assert np.array_equal(rows.batch.xy[n], kp[:, :2]) and np.array_equal(rows.batch.v[n], kp[:, 2])
        assert np.array_equal(rows.batch.bbox[n], inst["bbox"])
        box_area = inst["bbox"][2] * inst["bbox"][3]
        assert rows.batch.area[n] == inst.get("area", box_area)


def test_the_project_cap_keeps_each_labels_first_instances():
    world = make_scored_world(6, seed=32, people=(2, 3))
    rows = read(world, cap=1)
    assert rows.instance_index.max() == 0
    assert len(rows.batch) == Annotation.objects.filter(image__project=world.project, source="annotator").count()
    assert sum(map(len, rows.oversized)) > 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the binary column is PostgreSQL's")
def test_postgresql_keeps_the_binary_numbers_for_annotator_labels_only():
    world = make_scored_world(2, seed=33)
    score_images(im.pk for im in world.images)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, length(label_numbers) FROM annotation_annotation WHERE image_id = %s",
                       [world.images[0].pk])
        stored = dict(cursor.fetchall())
    expected = {ann.pk: len(ann.instances) * (3 * 17 + 7) * 8 if ann.source == "annotator" else None
                for ann in Annotation.objects.filter(image=world.images[0])}
    assert {Annotation.objects.get(pk=pk).source for pk in stored} == {"annotator", "consensus"}
    assert stored == expected


@pytest.mark.parametrize("broken", [
    {"keypoints": [1.0] * 50, "bbox": [0, 0, 1, 1]},  # one number short
    {"keypoints": [None] * 51, "bbox": [0, 0, 1, 1]},  # not numbers
    {"keypoints": [1.0] * 51, "bbox": [0, 0, 1]},  # a short box
])
def test_a_malformed_label_is_refused_by_name_and_nothing_is_written(broken):
    world = make_scored_world(2, seed=34)
    ann = Annotation.objects.filter(image=world.images[1], source="annotator").first()
    Annotation.objects.filter(pk=ann.pk).update(instances=[*ann.instances, broken])
    with pytest.raises(ValueError, match=f"annotation\\(s\\) {ann.pk} hold instances"):
        score_images(im.pk for im in world.images)
    assert not ConsensusResult.objects.filter(project=world.project).exists()


def test_flags_are_stored_as_codes_and_served_with_their_sentence():
    world = make_scored_world(1, seed=35, people=(1, 1))
    image = world.images[0]
    ann = Annotation.objects.get(image=image, annotator=world.annotators[1])
    kp = np.asarray(ann.instances[0]["keypoints"]).reshape(17, 3)
    kp[[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]] = kp[[6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]]
    ann.instances[0]["keypoints"] = kp.ravel().tolist()
    ann.save()
    score_images([image.pk])
    stored = ConsensusResult.objects.get(image=image).flags
    assert stored and all("message" not in flag for flag in stored)
    task = ReviewTask.objects.get(image=image)
    client = APIClient()
    client.force_authenticate(world.qa_lead)
    served = client.get(f"/api/v1/reviews/{task.pk}/").json()["flags"]
    assert [{k: v for k, v in f.items() if k != "message"} for f in served] == stored
    assert all(f["message"] == FLAG_CODES[f["code"]] for f in served)
    consensus = client.get(f"/api/v1/images/{image.pk}/consensus/").json()["flags"]
    assert {f["code"]: f["message"] for f in consensus} == {f["code"]: FLAG_CODES[f["code"]] for f in stored}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the binary read is PostgreSQL's")
def test_a_database_error_in_the_binary_read_is_djangos():
    from django.db import DatabaseError

    world = make_scored_world(1, seed=36)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE annotation_annotation RENAME COLUMN label_numbers TO label_numbers_gone")
    with pytest.raises(DatabaseError, match="label_numbers"):
        read(world)


def test_scoring_pauses_the_cycle_collector_and_leaves_it_as_it_found_it(monkeypatch):
    import gc

    from review.services import scoring

    world = make_scored_world(2, seed=37)
    during, engine = [], scoring.run_pipeline
    monkeypatch.setattr(scoring, "run_pipeline", lambda *a, **k: during.append(gc.isenabled()) or engine(*a, **k))
    assert gc.isenabled()
    score_images(im.pk for im in world.images)
    assert during == [False] and gc.isenabled()
    gc.disable()
    try:
        score_images(im.pk for im in world.images)
        assert not gc.isenabled()  # it was off: scoring does not turn it on
    finally:
        gc.enable()
