"""Issue 12, findings 6, 7 and 10: every input bounded, every /api/ error in the JSON shape."""

import io
import json

import orjson
import pytest

from annotation.models import Annotation, Image, Membership, Skeleton
from review.models import ConsensusResult
from review.services.scoring import score_images
from tests.annotation.factories import client_for, instance, make_world
from tests.review.scoring_fixtures import make_scored_world

pytestmark = pytest.mark.django_db


def _leased(world):
    from annotation.engine import next_task

    assignment, _ = next_task(world["annotator_a"], world.project, vendor_id=world.vendor_a.pk)
    return assignment


def _token_client(user):
    return client_for(user, token=True)


# --- finding 6: instances per submit ------------------------------------------------


@pytest.mark.parametrize("token", [True, False], ids=["fast-lane", "api-view"])
def test_finding_6_a_100000_instance_submit_is_refused_naming_the_limit(token):
    world = make_world(images=1)
    assignment = _leased(world)
    client = client_for(world["annotator_a"], token=token)
    body = orjson.dumps({"instances": [instance()] * 100_000})
    response = client.post(f"/api/v1/assignments/{assignment.pk}/submit/", body, content_type="application/json")
    assert response.status_code in (400, 413)
    assert "JSON_MAX_BODY_BYTES" in response.json()["detail"] or "max_instances_per_image" in response.json()["detail"]
    assert not Annotation.objects.filter(image=assignment.image).exists()


@pytest.mark.parametrize("token", [True, False], ids=["fast-lane", "api-view"])
def test_finding_6_one_instance_over_the_projects_cap_is_a_400_naming_it(token):
    world = make_world(images=1, max_instances_per_image=5)
    assignment = _leased(world)
    client = client_for(world["annotator_a"], token=token)
    url = f"/api/v1/assignments/{assignment.pk}/submit/"
    response = client.post(url, {"instances": [instance()] * 6}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["instances"] == [
        "6 instances, over this project's limit of 5 per image (max_instances_per_image)."]
    assert client.post(url, {"instances": [instance()] * 5}, format="json").status_code == 200


def test_finding_6_scoring_an_oversized_image_is_bounded_and_flagged_for_review():
    world = make_scored_world(1)
    world.project.max_instances_per_image = 2
    world.project.save(update_fields=["max_instances_per_image"])
    image = world.images[0]
    stored = Annotation.objects.get(image=image, annotator=world.annotators[0])
    stored.instances = stored.instances + [stored.instances[0]] * 5000  # an old row, from before the cap
    stored.save()
    score_images([image.pk])
    result = ConsensusResult.objects.get(image=image)
    image.refresh_from_db()
    assert image.status == "review" and result.decision == "needs_review"
    flag = next(f for f in result.flags if f["code"] == "too_many_instances")
    assert flag["annotator"] == world.annotators[0].pk and flag["limit"] == 2
    assert any("over the project's limit of 2" in reason for reason in result.reasons)


def test_finding_6_project_caps_have_ranges():
    world = make_world(images=0)
    pm = client_for(world["project_manager"])
    url = f"/api/v1/projects/{world.project.pk}/"
    for bad in (0, 10**6, True, "many"):
        response = pm.patch(url, {"max_instances_per_image": bad}, format="json")
        assert response.status_code == 400 and "max_instances_per_image" in response.json()["errors"], bad


# --- finding 7: one bounded parser, numbers, NUL ------------------------------------


@pytest.mark.parametrize("body, problem", [
    (b"[" * 2000 + b"]" * 2000, "depth limit"),
    (b'{"draft": ' + b"[" * 40 + b"]" * 40 + b"}", "depth limit"),
    (b'{"draft": {"note": "a\\u0000b"}}', "NUL"),
    (b'{"draft": {"\\u0000": 1}}', "NUL"),
    (b'{"draft": {"note": "\\ud800"}}', "surrogate"),
    (b'{"draft": {"x": 1e400}}', "infinity"),
    (b'{"draft": {"x": NaN}}', "Invalid JSON"),
])
def test_finding_7_every_json_body_is_bounded(body, problem):
    world = make_world(images=1)
    assignment = _leased(world)
    response = client_for(world["annotator_a"]).put(
        f"/api/v1/assignments/{assignment.pk}/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert problem in response.json()["detail"]


def test_finding_7_a_body_over_the_limit_is_a_json_413(settings):
    settings.JSON_MAX_BODY_BYTES = 1000
    world = make_world(images=1)
    response = client_for(world["project_manager"]).patch(
        f"/api/v1/projects/{world.project.pk}/", {"description": "x" * 2000}, format="json")
    assert response.status_code == 413 and "JSON_MAX_BODY_BYTES" in response.json()["detail"]


@pytest.mark.parametrize("value", [10**400, 1e300 * 1e10])
def test_finding_7_huge_numbers_in_instances_are_a_400(value):
    world = make_world(images=1)
    assignment = _leased(world)
    bad = instance()
    bad["area"] = value
    body = json.dumps({"instances": [bad]}).encode()  # Python writes 10**400 and Infinity
    response = _token_client(world["annotator_a"]).post(
        f"/api/v1/assignments/{assignment.pk}/submit/", body, content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize("query", ["?file_name=%00", "?status=%00", "?name%00=x"])
def test_finding_7_nul_in_query_parameters_is_a_400(query):
    world = make_world(images=1)
    response = client_for(world["project_manager"]).get(f"/api/v1/projects/{world.project.pk}/images/{query}")
    assert response.status_code == 400 and "NUL" in response.json()["detail"]


@pytest.mark.parametrize("query, field", [
    ("?tz=Europe", "tz"),
    ("?date_from=9999-12-30&date_to=9999-12-31", "date_from"),
    ("?date_from=0001-01-01&date_to=0001-01-02", "date_from"),
])
def test_finding_7_periods_are_bounded(query, field):
    world = make_world(images=1)
    client = client_for(world["vendor_manager_a"])
    for url in ("/api/v1/workforce/stats/", f"/api/v1/vendors/{world.vendor_a.pk}/timesheet/"):
        response = client.get(url + query)
        assert response.status_code == 400, (url, response.content)
        assert field in response.json()["errors"]


def _coco(images, annotations, k=17):
    return {"images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "person", "keypoints": [f"kp{i}" for i in range(k)], "skeleton": []}]}


def _import(world, coco, **params):
    raw = coco if isinstance(coco, bytes) else json.dumps(coco).encode()
    upload = io.BytesIO(raw)
    upload.name = "coco.json"
    return client_for(world["project_manager"]).post(
        f"/api/v1/projects/{world.project.pk}/import-coco/", {"file": upload, **params}, format="multipart")


def _ann(image_id, keypoints=None, **extra):
    return {"id": 1, "image_id": image_id, "category_id": 1, "bbox": [1, 1, 50, 50],
            "keypoints": keypoints or [10, 10, 2] * 17, **extra}


@pytest.mark.parametrize("case", ["id_2_63", "width_2_40", "true_image_id", "true_in_keypoints", "huge_area",
                                  "nul_file_name"])
def test_finding_7_coco_import_bounds_ids_sizes_and_numbers(case, tmp_path):
    world = make_world(images=0)
    image = {"id": 1, "file_name": "a.jpg", "width": 640, "height": 480}
    annotations = [_ann(1)]
    if case == "id_2_63":
        image["id"] = 2**63
        annotations = [_ann(2**63)]
    elif case == "width_2_40":
        image["width"] = 2**40
    elif case == "true_image_id":
        annotations = [_ann(True)]
    elif case == "true_in_keypoints":
        annotations = [_ann(1, [10, 10, True] * 17)]
    elif case == "nul_file_name":
        image["file_name"] = "a\x00.jpg"
    raw = json.dumps(_coco([image], annotations)).encode()
    if case == "huge_area":
        raw = raw.replace(b'"bbox"', b'"area": ' + str(10**400).encode() + b', "bbox"')
    response = _import(world, raw, create_missing_images="1")
    assert response.status_code == 400, response.content
    assert not Image.objects.filter(project=world.project).exists()
    assert not Annotation.objects.exists()
    assert not list((tmp_path / "media" / "coco_imports").rglob("*.json"))  # the refused file is not kept


def test_finding_7_skeletons_are_bounded(staff_client):
    # Each body is a valid category but for the one bound it breaks.
    too_many = {"name": "many", "keypoints": [f"k{i}" for i in range(20_000)], "skeleton": []}
    response = staff_client.post("/api/v1/skeletons/import-coco/", too_many, format="json")
    assert response.status_code == 400 and "SKELETON_MAX_KEYPOINTS" in response.json()["detail"]
    huge_sigma = b'{"name": "huge", "keypoints": ["a", "b"], "skeleton": [], "sigmas": [1' + b"0" * 400 + b', 0.05]}'
    assert staff_client.post("/api/v1/skeletons/import-coco/", huge_sigma,
                             content_type="application/json").status_code == 400
    for sigma in (True, 1e6):
        body = {"name": f"sigma {sigma}", "keypoints": ["a", "b"], "skeleton": [], "sigmas": [sigma, 0.05]}
        assert staff_client.post("/api/v1/skeletons/import-coco/", body, format="json").status_code == 400
    assert not Skeleton.objects.exists()
    fine = {"name": "fine", "keypoints": ["a", "b"], "skeleton": [], "sigmas": [0.05, 0.05]}
    assert staff_client.post("/api/v1/skeletons/import-coco/", fine, format="json").status_code == 201


# --- finding 7 and 10: the JSON error shape everywhere under /api/ -------------------


def test_unknown_api_urls_and_methods_answer_in_the_json_shape():
    world = make_world(images=0)
    client = client_for(world["project_manager"])
    missing = client.get("/api/v1/no-such-thing/")
    assert missing.status_code == 404 and missing["Content-Type"] == "application/json"
    assert "No API endpoint" in missing.json()["detail"] and missing.json()["errors"] == {}
    wrong = client.delete(f"/api/v1/projects/{world.project.pk}/")
    assert wrong.status_code == 405 and wrong.json()["detail"] and wrong.json()["errors"] == {}


def test_too_many_files_and_too_large_bodies_answer_in_the_json_shape(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    world = make_world(images=0)
    client = client_for(world["project_manager"])
    files = [io.BytesIO(b"x") for _ in range(3)]
    for i, f in enumerate(files):
        f.name = f"{i}.png"
    response = client.post(f"/api/v1/projects/{world.project.pk}/images/", {"files": files}, format="multipart")
    assert response.status_code == 413 and "DATA_UPLOAD_MAX_NUMBER_FILES" in response.json()["detail"]


def test_a_crash_under_api_is_a_json_500(monkeypatch):
    from django.test import Client

    world = make_world(images=0)
    from annotation.api import projects

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(projects.ProjectViewSet, "list", explode)
    client = Client(raise_request_exception=False)
    client.force_login(world["project_manager"])
    response = client.get("/api/v1/projects/")
    assert response.status_code == 500 and response["Content-Type"] == "application/json"
    assert "boom" not in response.content.decode() and response.json()["errors"] == {}


def test_missing_or_bad_credentials_are_a_401_with_www_authenticate(api_client):
    assert api_client.get("/api/v1/projects/").status_code == 401
    assert api_client.get("/api/v1/projects/")["WWW-Authenticate"] == "Token"
    api_client.credentials(HTTP_AUTHORIZATION="Token nonsense")
    response = api_client.get("/api/v1/projects/")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"


def test_the_vendor_side_role_gets_one_answer_per_project(django_user_model):
    """An annotator who can see a project is told 403 (not 404) by every endpoint it may not use."""
    world = make_world(images=1)
    client = client_for(world["annotator_a"])
    pk = world.project.pk
    codes = {url: client.get(url).status_code for url in (
        f"/api/v1/projects/{pk}/images/", f"/api/v1/projects/{pk}/agreement/",
        f"/api/v1/projects/{pk}/export-coco/", f"/api/v1/images/{world.images[0].pk}/consensus/")}
    assert set(codes.values()) == {403}, codes
    assert Membership.objects.filter(user=world["annotator_a"]).exists()


@pytest.mark.parametrize("where", ["appended", "comment"])
def test_finding_7_an_image_carrying_html_is_refused(where):
    from PIL import Image as PILImage

    world = make_world(images=0)
    buffer = io.BytesIO()
    markup = b"<html><script>alert(document.cookie)</script></html>"
    if where == "comment":
        PILImage.new("RGB", (4, 4), "red").save(buffer, format="GIF", comment=markup)
        raw = buffer.getvalue()
    else:
        PILImage.new("RGB", (4, 4), "red").save(buffer, format="GIF")
        raw = buffer.getvalue() + markup
    upload = io.BytesIO(raw)
    upload.name = "cat.gif"
    response = client_for(world["project_manager"]).post(
        f"/api/v1/projects/{world.project.pk}/images/", {"files": [upload]}, format="multipart")
    assert response.status_code == 400 and "markup" in response.json()["detail"]
    assert not Image.objects.exists()


def test_a_multipart_body_over_djangos_limit_is_a_json_413(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    world = make_world(images=0)
    response = client_for(world["project_manager"]).post(
        f"/api/v1/projects/{world.project.pk}/images/", {"note": "x" * 1000}, format="multipart")
    assert response.status_code == 413 and response["Content-Type"] == "application/json"
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in response.json()["detail"]


@pytest.mark.parametrize("value", ["²", "9" * 5000, "-1", "1e3"])
def test_id_filters_refuse_what_is_not_an_id(value):
    world = make_world(images=0)
    for role, url in (("project_manager", "/api/v1/projects/?organization="),
                      ("annotator_a", "/api/v1/assignments/?project="),
                      ("vendor_manager_a", "/api/v1/workforce/stats/?vendor=")):
        response = client_for(world[role]).get(url + value)
        assert response.status_code == 400, (url, response.content[:200])
        assert "Expected an id" in response.json()["detail"]


def test_finding_10_agreement_post_answers_202_as_documented_and_the_schema_names_no_internals(client):
    import yaml

    world = make_world(images=0)
    response = client_for(world["project_manager"]).post(f"/api/v1/projects/{world.project.pk}/agreement/")
    assert response.status_code == 202 and response.json()["state"] == "finished"  # in-process: done already
    schema = client.get("/api/schema/")
    assert "project_for" not in schema.content.decode()
    operation = yaml.safe_load(schema.content)["paths"]["/api/v1/projects/{id}/agreement/"]["post"]
    assert "202" in operation["responses"] and "200" not in operation["responses"]


def test_finding_10_the_readmes_acknowledge_example_works_as_written():
    """Replays the README's curl line for acknowledging instructions, headers and body as curl
    would send them (without a Content-Type header, curl sends -d form-encoded)."""
    import re
    from pathlib import Path

    from tests.annotation.factories import with_instructions

    line = next(line for line in (Path(__file__).resolve().parent.parent / "README.md").read_text().splitlines()
                if line.startswith("curl") and "/instructions/acknowledge/" in line)
    headers = dict(h.split(": ", 1) for h in re.findall(r'-H "([^"]+)"', line))
    data = re.search(r"-d '([^']*)'|-d (\S+)", line)
    world = make_world(images=1)
    instructions = with_instructions(world.project, version=1)
    client = client_for(world["annotator_a"], token=True)

    def replay():
        return client.post(f"/api/v1/projects/{world.project.pk}/instructions/acknowledge/", data[1] or data[2],
                           content_type=headers.get("Content-Type", "application/x-www-form-urlencoded"))

    # Copied as written while the instructions are at version 1: told what to send, not that anything changed.
    wrong = replay()
    assert wrong.status_code == 400, (line, wrong.content)
    assert "changed" not in wrong.json()["detail"] and "the current version is 1" in wrong.json()["errors"]["version"][0]
    instructions.version = 3
    instructions.save(update_fields=["version"])
    response = replay()
    assert response.status_code == 200, (line, response.content)
    assert response.json()["version"] == 3
