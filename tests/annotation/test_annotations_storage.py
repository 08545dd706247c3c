"""save_annotation: one annotation per (image, source), validated against the skeleton, optimistic locking."""

import pytest
from django.core.exceptions import ValidationError

from annotation.models import Annotation
from annotation.services.annotations import StaleAnnotation, save_annotation

from .projects_fixtures import arm_skeleton, make_images, org, project  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

GOOD = {"bbox": [10, 10, 100, 100], "keypoints": [20, 20, 2, 40, 20, 1, 30, 10, 2], "score": 0.5}


@pytest.fixture
def image(project):
    return make_images(project, ["a.jpg"], width=200, height=150)[0]


def test_stores_canonical_instances_and_bumps_version(image):
    first = save_annotation(image, "consensus", [GOOD])
    assert first.version == 1
    assert first.instances == [
        {"bbox": [10.0, 10.0, 100.0, 100.0], "keypoints": [20.0, 20.0, 2, 40.0, 20.0, 1, 30.0, 10.0, 2], "score": 0.5}
    ]
    second = save_annotation(image, "consensus", [], expected_version=1)
    assert (second.pk, second.version, second.instances) == (first.pk, 2, [])
    assert Annotation.objects.filter(image=image, source="consensus").count() == 1


def test_a_stale_version_is_a_conflict_and_changes_nothing(image):
    save_annotation(image, "review", [GOOD])
    save_annotation(image, "review", [], expected_version=1)
    with pytest.raises(StaleAnnotation):
        save_annotation(image, "review", [GOOD], expected_version=1)
    assert Annotation.objects.get(image=image, source="review").instances == []


def test_every_violation_is_named_by_instance_and_keypoint(image):
    bad = [
        GOOD,
        {"bbox": [0, 0, 10, 10], "keypoints": [5, 5, 3, 500, 5, 2, 1, 1, 0]},
        {"bbox": [0, 0, 10, 10], "keypoints": [1, 2, 2]},
        {"bbox": [-50, 0, 10, 10], "keypoints": [float("nan"), 0, 2, 0, 0, 0, 0, 0, 0]},
    ]
    with pytest.raises(ValidationError) as info:
        save_annotation(image, "gold", bad)
    messages = info.value.message_dict["instances"]
    text = " | ".join(messages)
    assert "instance 1: keypoint 0 (left_shoulder): v must be 0, 1 or 2, got 3" in text
    assert "instance 1: keypoint 1 (right_shoulder) at (500, 5) is outside the 200x150 image" in text
    assert "instance 1: keypoint 2 (neck): v=0 (not labeled) requires x=y=0" in text
    assert "instance 2: expected 3 keypoints (9 numbers), got 1" in text
    assert "instance 3: keypoint 0 (left_shoulder): x, y and v must be finite numbers" in text
    assert "instance 3: bbox [-50, 0, 10, 10] is not inside the 200x150 image" in text
    assert not Annotation.objects.exists()


def test_annotator_annotations_are_per_annotator(image, django_user_model):
    alice, bob = (django_user_model.objects.create_user(n) for n in ("alice", "bob"))
    save_annotation(image, "annotator", [GOOD], annotator=alice)
    save_annotation(image, "annotator", [], annotator=bob)
    assert Annotation.objects.filter(image=image, source="annotator").count() == 2
    with pytest.raises(ValidationError, match="needs its annotator"):
        save_annotation(image, "annotator", [GOOD])
    with pytest.raises(ValidationError, match="Unknown source"):
        save_annotation(image, "final", [GOOD])
