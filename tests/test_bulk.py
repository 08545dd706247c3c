"""Set-based writes: the COPY path and the ORM path leave the same rows."""

import pytest

from annotation.models import Annotation, Image, Organization, Project
from annotation.services.annotations import replace_source_annotations
from annotation.services.skeletons import create_skeleton
from jointly import bulk

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["copy", "orm"])
def write_path(request, monkeypatch):
    monkeypatch.setattr(bulk, "COPY_THRESHOLD", 0 if request.param == "copy" else 10**9)
    return request.param


@pytest.fixture
def images():
    skeleton = create_skeleton({"name": "dot", "keypoints": [{"name": "dot", "sigma": 0.05}]})
    project = Project.objects.create(organization=Organization.objects.create(name="o"), name="p", skeleton=skeleton)
    return Image.objects.bulk_create(
        Image(project=project, file=f"{i}.jpg", file_name=f"{i}.jpg", width=10, height=10) for i in range(3)
    )


def instances(x):
    return [{"bbox": [0.0, 0.0, 5.0, 5.0], "keypoints": [x, 1.5, 2]}]


def test_replace_source_annotations_creates_updates_and_keeps(write_path, images):
    a, b, c = images
    first = replace_source_annotations("import", {a.pk: instances(1.0), b.pk: instances(2.0)})
    assert first == {"created": 2, "updated": 0, "unchanged": 0}
    second = replace_source_annotations("import", {a.pk: instances(1.0), b.pk: instances(3.0), c.pk: []})
    assert second == {"created": 1, "updated": 1, "unchanged": 1}
    rows = {r.image_id: (r.instances, r.version) for r in Annotation.objects.filter(source="import")}
    assert rows == {a.pk: (instances(1.0), 1), b.pk: (instances(3.0), 2), c.pk: ([], 1)}


def test_replace_source_annotations_refuses_per_person_sources(images):
    with pytest.raises(ValueError, match="belong to an annotator"):
        replace_source_annotations("annotator", {images[0].pk: []})
