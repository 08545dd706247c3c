"""Import a COCO file, export it, and get the same instances back; pycocotools loads the export."""

import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from .projects_fixtures import (  # noqa: F401  (fixtures)
    ARM_NAMES, arm_skeleton, manager_client, org, project, random_coco,
)

pytestmark = pytest.mark.django_db


def instances_by_file(data, names):
    """file_name -> sorted (N, 4 + 3K) array of bbox and keypoints in `names` order."""
    file_of = {i["id"]: i["file_name"] for i in data["images"]}
    order = [data["categories"][0]["keypoints"].index(n) for n in names]
    rows = {name: [] for name in file_of.values()}
    for ann in data["annotations"]:
        kps = np.asarray(ann["keypoints"], dtype=float).reshape(-1, 3)[order].reshape(-1)
        rows[file_of[ann["image_id"]]].append(np.concatenate([ann["bbox"], kps]))
    return {name: np.array(sorted(map(tuple, r))) for name, r in rows.items()}


@pytest.mark.parametrize("order", [None, [2, 0, 1]], ids=["skeleton order", "shuffled keypoint order"])
def test_round_trip_keeps_every_keypoint_visibility_and_bbox(manager_client, project, tmp_path, order):
    original = random_coco(n_images=25, n_instances=70, seed=7, order=order)
    upload = io.BytesIO(json.dumps(original).encode())
    upload.name = "in.json"
    response = manager_client.post(
        f"/api/v1/projects/{project.pk}/import-coco/", {"file": upload, "create_missing_images": "1"}, format="multipart"
    )
    assert response.status_code == 201, response.data
    exported = json.loads(b"".join(
        manager_client.get(f"/api/v1/projects/{project.pk}/export-coco/", {"source": "import"}).streaming_content
    ))
    before, after = instances_by_file(original, ARM_NAMES), instances_by_file(exported, ARM_NAMES)
    with_instances = {k for k, v in before.items() if len(v)}
    assert {k for k, v in after.items() if len(v)} == with_instances
    for name in with_instances:
        np.testing.assert_allclose(after[name], before[name], atol=1e-6, rtol=0)
    # Image ids of the imported file are kept; areas as given, not recomputed.
    assert {i["id"] for i in exported["images"]} <= {i["id"] for i in original["images"]}
    assert sorted(a["area"] for a in exported["annotations"]) == pytest.approx(sorted(a["area"] for a in original["annotations"]))
    path = tmp_path / "export.json"
    path.write_text(json.dumps(exported))
    coco = COCO(str(path))
    assert len(coco.getAnnIds()) == 70
    assert coco.loadCats(coco.getCatIds())[0]["keypoints"] == ARM_NAMES
