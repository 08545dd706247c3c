"""/api/v1/skeletons/: create, update (versioned once frozen), COCO in and out."""

import pytest

from annotation.models import Annotation, Image, Organization, Project, Skeleton
from annotation.services.skeletons import create_skeleton

from .projects_fixtures import ARM

pytestmark = pytest.mark.django_db



def freeze(skeleton: Skeleton) -> None:
    """Make the skeleton used: an annotation on an image of a project on it."""
    org = Organization.objects.create(name=f"org-{skeleton.pk}")
    project = Project.objects.create(organization=org, name="p", skeleton=skeleton)
    image = Image.objects.create(project=project, file="x.jpg", file_name="x.jpg", width=10, height=10)
    Annotation.objects.create(image=image, source=Annotation.Source.IMPORT, instances=[])


def test_create_and_read_back(staff_client):
    response = staff_client.post("/api/v1/skeletons/", ARM, format="json")
    assert response.status_code == 201, response.json()
    body = staff_client.get(f"/api/v1/skeletons/{response.json()['id']}/").json()
    assert [kp["name"] for kp in body["keypoints"]] == ["left_shoulder", "right_shoulder", "neck"]
    assert body["edges"] == [["left_shoulder", "neck"], ["right_shoulder", "neck"]]
    assert body["version"] == 1 and body["is_frozen"] is False


def test_invalid_skeleton_gets_400_naming_the_problem(staff_client):
    bad = {**ARM, "edges": [["neck", "elbow"]]}
    response = staff_client.post("/api/v1/skeletons/", bad, format="json")
    assert response.status_code == 400
    assert "elbow" in response.json()["detail"]
    assert "edges" in response.json()["errors"]
    assert not Skeleton.objects.exists()


def test_only_staff_may_write_but_members_may_read(django_user_model, api_client):
    skeleton = create_skeleton(ARM)
    user = django_user_model.objects.create_user("reader", password="pw")
    api_client.force_authenticate(user)
    assert api_client.get(f"/api/v1/skeletons/{skeleton.pk}/").json()["name"] == "arm"
    assert api_client.post("/api/v1/skeletons/", ARM, format="json").status_code == 403
    api_client.force_authenticate(None)
    assert api_client.get("/api/v1/skeletons/").status_code in (401, 403)


def test_editing_an_unused_skeleton_changes_it_in_place(staff_client):
    skeleton = create_skeleton(ARM)
    edited = {**ARM, "keypoints": [*ARM["keypoints"], {"name": "head", "sigma": 0.03}]}
    response = staff_client.put(f"/api/v1/skeletons/{skeleton.pk}/", edited, format="json")
    assert response.status_code == 200
    assert response.json()["id"] == skeleton.pk
    assert skeleton.keypoints.count() == 4


def test_editing_a_used_skeleton_makes_a_new_version_and_keeps_the_old(staff_client):
    skeleton = create_skeleton(ARM)
    freeze(skeleton)
    edited = {**ARM, "keypoints": [{**kp, "sigma": 0.1} for kp in ARM["keypoints"]]}
    response = staff_client.put(f"/api/v1/skeletons/{skeleton.pk}/", edited, format="json")
    assert response.status_code == 201
    new = Skeleton.objects.get(pk=response.json()["id"])
    assert (new.name, new.version, new.previous_id) == ("arm", 2, skeleton.pk)
    assert list(new.keypoints.values_list("sigma", flat=True)) == [0.1, 0.1, 0.1]
    assert list(skeleton.keypoints.values_list("sigma", flat=True)) == [0.079, 0.079, 0.05]
    assert Project.objects.get().skeleton_id == skeleton.pk


def test_coco_category_is_one_based_and_round_trips(staff_client):
    skeleton = create_skeleton(ARM)
    category = staff_client.get(f"/api/v1/skeletons/{skeleton.pk}/coco/").json()
    assert category["skeleton"] == [[1, 3], [2, 3]]
    assert category["flip_pairs"] == [[1, 2]]
    response = staff_client.post("/api/v1/skeletons/import-coco/", category, format="json")
    assert response.status_code == 201, response.json()
    again = staff_client.get(f"/api/v1/skeletons/{response.json()['id']}/coco/").json()
    assert {k: v for k, v in again.items() if k != "id"} == {k: v for k, v in category.items() if k != "id"}
    assert response.json()["version"] == 2


def test_plain_coco_category_infers_flip_pairs_and_warns_about_sigmas(staff_client):
    category = {
        "id": 1, "name": "bird", "supercategory": "animal",
        "keypoints": ["beak", "left_wing", "right_wing"], "skeleton": [[1, 2], [1, 3]],
    }
    response = staff_client.post("/api/v1/skeletons/import-coco/", category, format="json")
    assert response.status_code == 201
    body = response.json()
    assert {kp["name"]: kp["flip_partner"] for kp in body["keypoints"]} == {
        "beak": "", "left_wing": "right_wing", "right_wing": "left_wing",
    }
    assert any("no sigmas" in w for w in body["warnings"])


@pytest.mark.parametrize(
    "category, field",
    [
        ({"name": "x", "keypoints": []}, "keypoints"),
        ({"name": "x", "keypoints": ["a", "b"], "skeleton": [[0, 1]]}, "skeleton"),
        ({"name": "x", "keypoints": ["a", "b"], "skeleton": [[1, 3]]}, "skeleton"),
        ({"name": "x", "keypoints": ["a", "b"], "sigmas": [0.1]}, "sigmas"),
        ({"name": "x", "keypoints": ["a", "a"], "sigmas": [0.1, 0.1]}, "keypoints"),
    ],
)
def test_bad_coco_category_is_rejected(staff_client, category, field):
    response = staff_client.post("/api/v1/skeletons/import-coco/", category, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Skeleton.objects.exists()


def test_presentation_edits_of_a_used_skeleton_stay_in_place(staff_client):
    skeleton = create_skeleton(ARM)
    freeze(skeleton)
    recolored = {
        **ARM, "description": "arms only",
        "keypoints": [{**kp, "color": "#00ff00", "layout": [0.5, 0.25]} for kp in ARM["keypoints"]],
    }
    response = staff_client.put(f"/api/v1/skeletons/{skeleton.pk}/", recolored, format="json")
    assert response.status_code == 200
    assert Skeleton.objects.count() == 1
    assert response.json()["keypoints"][0]["layout"] == [0.5, 0.25]
    assert set(skeleton.keypoints.values_list("color", flat=True)) == {"#00ff00"}


def test_reordering_keypoints_of_a_used_skeleton_is_a_new_version(staff_client):
    skeleton = create_skeleton(ARM)
    freeze(skeleton)
    reordered = {**ARM, "keypoints": list(reversed(ARM["keypoints"]))}
    response = staff_client.put(f"/api/v1/skeletons/{skeleton.pk}/", reordered, format="json")
    assert response.status_code == 201
    assert list(skeleton.keypoints.values_list("name", flat=True)) == ["left_shoulder", "right_shoulder", "neck"]


def test_the_list_reads_is_frozen_in_the_page_query_not_per_skeleton(staff_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def listed():
        with CaptureQueriesContext(connection) as captured:
            body = staff_client.get("/api/v1/skeletons/").json()
        return body, len(captured.captured_queries)

    first = create_skeleton({**ARM, "name": "a"})
    create_skeleton({**ARM, "name": "b"})
    freeze(first)
    body, two = listed()
    assert {s["name"]: s["is_frozen"] for s in body["results"]} == {"a": True, "b": False}
    for name in ("c", "d", "e"):
        create_skeleton({**ARM, "name": name})
    body, five = listed()
    assert len(body["results"]) == 5
    assert five == two
