"""Skeleton admin through Django's test client, as a signed-in staff user."""

import json
import re

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from annotation.models import Annotation, Image, Keypoint, Organization, Project, Skeleton
from annotation.presets import PRESET_DIR
from annotation.services.skeletons import create_skeleton, definition_of, to_coco_category

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:annotation_skeleton_changelist")
ADD = reverse("admin:annotation_skeleton_add")
IMPORT = reverse("admin:annotation_skeleton_import_coco")


def change_url(skeleton):
    return reverse("admin:annotation_skeleton_change", args=[skeleton.pk])


@pytest.fixture
def admin_client(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


def arm(name="arm", **overrides):
    definition = {
        "name": name,
        "supercategory": "person",
        "keypoints": [
            {"name": "left_shoulder", "sigma": 0.079, "flip_partner": "right_shoulder"},
            {"name": "right_shoulder", "sigma": 0.079, "flip_partner": "left_shoulder"},
            {"name": "neck", "sigma": 0.05, "layout": [0.5, 0.2]},
        ],
        "edges": [["left_shoulder", "neck"], ["right_shoulder", "neck"]],
    }
    definition.update(overrides)
    return create_skeleton(definition)


def freeze(skeleton):
    """Make `skeleton` frozen: one annotation on an image of a project using it."""
    organization = Organization.objects.get_or_create(name="Acme")[0]
    project = Project.objects.create(organization=organization, name=f"p-{skeleton.pk}", skeleton=skeleton)
    image = Image.objects.create(project=project, file="x.jpg", file_name="x.jpg", width=10, height=10)
    Annotation.objects.create(image=image, source=Annotation.Source.IMPORT, instances=[])
    assert skeleton.is_frozen


def formset(prefix, rows, existing_ids=()):
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": str(len(existing_ids)),
        f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        if i < len(existing_ids):
            data[f"{prefix}-{i}-id"] = str(existing_ids[i])
        for key, value in row.items():
            if value is not None:
                data[f"{prefix}-{i}-{key}"] = str(value)
    return data


def keypoint_row(order, name, sigma=0.05, color="#1f77b4", flip_partner="", layout_x="", layout_y="", **extra):
    return {"order": order, "name": name, "sigma": sigma, "color": color, "flip_partner": flip_partner,
            "layout_x": layout_x, "layout_y": layout_y, **extra}


def post_data(*, name=None, supercategory="person", description="", keypoints, edges, skeleton=None):
    """The admin form's POST, with the existing rows of `skeleton` (in their order) as initial forms."""
    kp_ids = list(skeleton.keypoints.values_list("pk", flat=True)) if skeleton else []
    edge_ids = list(skeleton.edges.values_list("pk", flat=True)) if skeleton else []
    data = {"supercategory": supercategory, "description": description}
    if name is not None:
        data["name"] = name
    data.update(formset("keypoints", keypoints, kp_ids[: len(keypoints)]))
    edge_rows = [{"source": edge[0], "target": edge[1], **(edge[2] if len(edge) > 2 else {})} for edge in edges]
    data.update(formset("edges", edge_rows, edge_ids[: len(edges)]))
    return data


def current_rows(skeleton):
    rows = []
    for kp in skeleton.keypoints.all():
        rows.append(keypoint_row(kp.order, kp.name, kp.sigma, kp.color, kp.flip_partner,
                                 "" if kp.layout_x is None else kp.layout_x, "" if kp.layout_y is None else kp.layout_y))
    return rows, [[e.source, e.target] for e in skeleton.edges.all()]


def errors_of(response):
    assert response.status_code == 200, "an invalid form re-renders the page"
    return response.content.decode()


# --- changelist ---------------------------------------------------------------

def test_changelist_lists_version_keypoint_count_and_frozen(admin_client):
    used = arm()
    freeze(used)
    arm("hand", supercategory="hand")
    response = admin_client.get(CHANGELIST)
    rows = {row.name: row for row in response.context["cl"].result_list}
    assert rows["arm"].keypoint_total == 3 and rows["arm"].is_used is True
    assert rows["hand"].is_used is False
    html = response.content.decode()
    assert "Import COCO category" in html and IMPORT in html


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"frozen": "yes"}, {"arm"}),
        ({"frozen": "no"}, {"hand", "paw"}),
        ({"supercategory": "hand"}, {"hand"}),
        ({"name": "paw"}, {"paw"}),
        ({"q": "neck"}, {"arm"}),
        ({"q": "thumb"}, {"hand"}),
    ],
)
def test_changelist_filters_and_search_filter(admin_client, query, expected):
    freeze(arm())
    arm("hand", supercategory="hand", keypoints=[{"name": "thumb", "sigma": 0.02}, {"name": "wrist", "sigma": 0.03}],
        edges=[["thumb", "wrist"]])
    arm("paw", supercategory="animal", keypoints=[{"name": "paw", "sigma": 0.02}], edges=[])
    response = admin_client.get(CHANGELIST, query)
    assert {s.name for s in response.context["cl"].result_list} == expected


# --- change page --------------------------------------------------------------

def test_change_page_draws_the_preview_and_offers_keypoint_names(admin_client):
    skeleton = arm()
    html = admin_client.get(change_url(skeleton)).content.decode()
    svg = re.search(r'<svg id="skeleton-preview".*?</svg>', html, re.S).group(0)
    assert svg.count("<circle") == 3
    assert svg.count("<line") == 2
    # neck has a layout position (0.5, 0.2): 24 + 0.5 * 352, 24 + 0.2 * 352
    assert re.search(r'<circle cx="200.0" cy="94.4"[^>]*fill="#1f77b4" stroke="#1f77b4"', svg)
    # the two shoulders have no position: they share a circle, first at the top
    assert re.search(r'<circle cx="200.0" cy="52.16"[^>]*stroke="#d62728"><title>0: left_shoulder \(left\)', svg)
    assert re.search(r'<circle cx="200.0" cy="347.84"[^>]*stroke="#2ca02c"><title>1: right_shoulder \(right\)', svg)
    assert 'stroke="#d62728"' in svg and 'stroke="#2ca02c"' in svg  # left and right rings
    assert 'data-source="left_shoulder" data-target="neck"' in svg
    datalist = re.search(r'<datalist id="skeleton-keypoint-names">(.*?)</datalist>', html, re.S).group(1)
    assert datalist.count("<option") == 3
    assert 'type="color"' in html and "skeleton_admin.js" in html
    assert "&quot;name&quot;: &quot;arm&quot;" in html  # the read-only COCO JSON, escaped


def test_preview_of_a_preset_uses_its_layout(admin_client):
    category = json.loads((PRESET_DIR / "face68.json").read_text())
    admin_client.post(IMPORT, {"text": json.dumps(category)})
    face = Skeleton.objects.get(name="face-68")
    svg = admin_client.get(change_url(face)).content.decode()
    assert svg.count("<circle") == 68 and svg.count("<line") == len(category["skeleton"])
    x, y = category["layout"][30]  # nose tip
    assert f'<circle cx="{round(24 + x * 352, 2)}" cy="{round(24 + y * 352, 2)}"' in svg


# --- add ----------------------------------------------------------------------

def test_add_via_admin_creates_the_skeleton_through_the_service(admin_client):
    data = post_data(
        name="leg",
        keypoints=[keypoint_row(1, "knee", 0.087, layout_x=0.5, layout_y=0.5), keypoint_row(0, "hip", 0.107),
                   keypoint_row("", "ankle", 0.089), keypoint_row("", "", sigma="")],  # last: untouched extra row
        edges=[["hip", "knee"], ["knee", "ankle"]],
    )
    response = admin_client.post(ADD, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    skeleton = Skeleton.objects.get(name="leg")
    assert skeleton.version == 1
    assert [kp.name for kp in skeleton.keypoints.all()] == ["hip", "knee", "ankle"]  # by order, blank last
    assert [kp.order for kp in skeleton.keypoints.all()] == [0, 1, 2]
    assert skeleton.keypoints.get(name="knee").layout_x == 0.5
    assert definition_of(skeleton)["edges"] == [["hip", "knee"], ["knee", "ankle"]]


def test_adding_a_name_that_exists_is_refused(admin_client):
    arm()
    response = admin_client.post(ADD, post_data(name="arm", keypoints=[keypoint_row(0, "a")], edges=[]))
    assert "A skeleton named “arm” already exists (latest: v1)" in errors_of(response)
    assert Skeleton.objects.filter(name="arm").count() == 1


INVALID_CASES = {
    "duplicate name": (
        [keypoint_row(0, "hip"), keypoint_row(1, "hip")], [],
        "Keypoint name &#x27;hip&#x27; is used twice",
    ),
    "sigma zero": (
        [keypoint_row(0, "hip", sigma=0)], [],
        "Keypoint &#x27;hip&#x27;: sigma must be greater than 0, got 0.",
    ),
    "negative sigma": (
        [keypoint_row(0, "hip", sigma=-0.1)], [],
        "sigma must be greater than 0, got -0.1.",
    ),
    "edge to unknown keypoint": (
        [keypoint_row(0, "hip"), keypoint_row(1, "knee")], [["hip", "ankle"]],
        "Edge hip-ankle refers to unknown keypoint(s): ankle.",
    ),
    "edge to itself": (
        [keypoint_row(0, "hip"), keypoint_row(1, "knee")], [["hip", "hip"]],
        "Edge hip-hip joins a keypoint to itself.",
    ),
    "duplicate edge": (
        [keypoint_row(0, "hip"), keypoint_row(1, "knee")], [["hip", "knee"], ["knee", "hip"]],
        "Edge knee-hip is listed twice.",
    ),
    "asymmetric flip pair": (
        [keypoint_row(0, "left_hip", flip_partner="right_hip"), keypoint_row(1, "right_hip"), keypoint_row(2, "neck")],
        [], "Flip pairs must be symmetric: &#x27;left_hip&#x27; names &#x27;right_hip&#x27; as partner, "
            "but &#x27;right_hip&#x27; names &#x27;nobody&#x27;.",
    ),
    "self flip pair": (
        [keypoint_row(0, "neck", flip_partner="neck")], [],
        "Keypoint &#x27;neck&#x27; cannot be its own flip partner.",
    ),
    "flip partner unknown": (
        [keypoint_row(0, "left_hip", flip_partner="right_hip")], [],
        "flip partner &#x27;right_hip&#x27; is not a keypoint of this skeleton.",
    ),
    "no keypoints": ([], [], "A skeleton needs at least one keypoint."),
    "half a layout": (
        [keypoint_row(0, "hip", layout_x=0.5)], [], "Give both layout x and y, or neither",
    ),
    "layout outside the unit square": (
        [keypoint_row(0, "hip", layout_x=1.5, layout_y=0.5)], [], "Ensure this value is less than or equal to 1.0.",
    ),
}


@pytest.mark.parametrize("case", INVALID_CASES, ids=list(INVALID_CASES))
def test_invalid_add_shows_the_problem_and_saves_nothing(admin_client, case):
    keypoints, edges, message = INVALID_CASES[case]
    response = admin_client.post(ADD, post_data(name="leg", keypoints=keypoints, edges=edges))
    html = errors_of(response)
    assert message in html
    assert "Please correct the error" in html
    assert not Skeleton.objects.exists()
    assert not Keypoint.objects.exists()


# --- change -------------------------------------------------------------------

def test_change_of_an_unfrozen_skeleton_is_saved_in_place(admin_client):
    skeleton = arm()
    rows, edges = current_rows(skeleton)
    rows[2]["sigma"] = 0.06
    rows.append(keypoint_row(3, "head", 0.03))
    response = admin_client.post(
        change_url(skeleton), post_data(keypoints=rows, edges=edges + [["neck", "head"]], skeleton=skeleton,
                                        description="now with a head"),
    )
    assert response.status_code == 302
    assert Skeleton.objects.count() == 1
    skeleton.refresh_from_db()
    assert skeleton.version == 1 and skeleton.description == "now with a head"
    definition = definition_of(skeleton)
    assert [kp["name"] for kp in definition["keypoints"]] == ["left_shoulder", "right_shoulder", "neck", "head"]
    assert definition["keypoints"][2]["sigma"] == 0.06
    assert ["neck", "head"] in definition["edges"]


def test_reordering_and_swapping_names_are_accepted(admin_client):
    """Rows are checked against each other, not against the rows saved now."""
    skeleton = arm()
    rows, edges = current_rows(skeleton)
    rows[0]["order"], rows[2]["order"] = 2, 0  # neck first, left_shoulder last
    response = admin_client.post(change_url(skeleton), post_data(keypoints=rows, edges=edges, skeleton=skeleton))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert [kp.name for kp in skeleton.keypoints.all()] == ["neck", "right_shoulder", "left_shoulder"]


def test_deleting_a_keypoint_that_an_edge_uses_is_refused(admin_client):
    skeleton = arm()
    rows, edges = current_rows(skeleton)
    rows[2]["DELETE"] = "on"
    response = admin_client.post(change_url(skeleton), post_data(keypoints=rows, edges=edges, skeleton=skeleton))
    assert "Edge left_shoulder-neck refers to unknown keypoint(s): neck." in errors_of(response)
    assert skeleton.keypoints.filter(name="neck").exists()


def test_invalid_change_saves_nothing(admin_client):
    skeleton = arm()
    before = definition_of(skeleton)
    rows, edges = current_rows(skeleton)
    rows[1]["name"] = "left_shoulder"
    response = admin_client.post(change_url(skeleton), post_data(keypoints=rows, edges=edges, skeleton=skeleton))
    assert "is used twice" in errors_of(response)
    skeleton.refresh_from_db()
    assert definition_of(skeleton) == before


def test_editing_a_frozen_skeleton_creates_version_2_and_keeps_version_1(admin_client):
    v1 = arm()
    freeze(v1)
    before = definition_of(v1)
    rows, edges = current_rows(v1)
    rows[2]["sigma"] = 0.07
    page = admin_client.get(change_url(v1)).content.decode()
    assert "is used by annotations" in page and "creates version 2" in page

    response = admin_client.post(change_url(v1), post_data(keypoints=rows, edges=edges, skeleton=v1))

    v2 = Skeleton.objects.get(name="arm", version=2)
    assert response.status_code == 302 and response["Location"] == change_url(v2)
    assert v2.previous_id == v1.pk
    assert definition_of(v2)["keypoints"][2]["sigma"] == 0.07
    v1.refresh_from_db()
    assert definition_of(v1) == before
    notices = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("saved as a new version, arm v2" in notice for notice in notices)


def test_saving_a_frozen_skeleton_without_changes_makes_no_version(admin_client):
    v1 = arm()
    freeze(v1)
    rows, edges = current_rows(v1)
    response = admin_client.post(change_url(v1), post_data(keypoints=rows, edges=edges, skeleton=v1))
    assert response.status_code == 302
    assert Skeleton.objects.filter(name="arm").count() == 1


def test_frozen_skeleton_cannot_be_deleted(admin_client):
    skeleton = arm()
    freeze(skeleton)
    response = admin_client.get(reverse("admin:annotation_skeleton_delete", args=[skeleton.pk]))
    assert response.status_code == 403


# --- COCO export and import -----------------------------------------------------

def test_export_action_downloads_one_category(admin_client):
    skeleton = arm()
    response = admin_client.post(CHANGELIST, {"action": "export_coco", "_selected_action": [skeleton.pk]})
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="arm-v1.json"'
    assert json.loads(response.content) == to_coco_category(skeleton)


def test_export_action_downloads_a_list_for_several(admin_client):
    first, second = arm(), arm("leg")
    response = admin_client.post(CHANGELIST, {"action": "export_coco", "_selected_action": [first.pk, second.pk]})
    payload = json.loads(response.content)
    assert [c["name"] for c in payload] == ["arm", "leg"]
    assert payload[0]["keypoints"] == ["left_shoulder", "right_shoulder", "neck"]


def test_import_view_creates_a_skeleton_from_an_uploaded_file(admin_client):
    category = json.loads((PRESET_DIR / "hand21.json").read_text())
    upload = SimpleUploadedFile("hand.json", json.dumps(category).encode(), content_type="application/json")
    response = admin_client.post(IMPORT, {"file": upload})
    skeleton = Skeleton.objects.get(name="hand-21")
    assert response.status_code == 302 and response["Location"] == change_url(skeleton)
    assert skeleton.keypoints.count() == 21


def test_import_view_reports_warnings(admin_client):
    category = {"name": "pair", "keypoints": ["left_ear", "right_ear"], "skeleton": [[1, 2]]}
    response = admin_client.post(IMPORT, {"text": json.dumps(category)}, follow=True)
    html = response.content.decode()
    assert "The category carries no sigmas; every keypoint got 0.05." in html
    skeleton = Skeleton.objects.get(name="pair")
    assert skeleton.keypoints.get(name="left_ear").flip_partner == "right_ear"


@pytest.mark.parametrize(
    "payload, message",
    [
        ("{not json", "This is not valid JSON"),
        (json.dumps({"name": "x", "keypoints": ["a", "b"], "skeleton": [[1, 3]]}),
         "skeleton: Pair [1, 3] refers to a keypoint outside 1..2"),
        (json.dumps({"name": "x", "keypoints": ["a", "a"], "skeleton": []}),
         "keypoints: Keypoint name &#x27;a&#x27; is used twice"),
        (json.dumps({"name": "x", "keypoints": ["a"], "sigmas": [0.1, 0.2]}), "sigmas: Expected 1 sigmas"),
        (json.dumps({"name": "x", "keypoints": ["a"], "layout": [[0.5, 0.5], [0.1, 0.1]]}),
         "layout: Expected 1 [x, y] positions (or null), one per keypoint."),
        (json.dumps({"name": "x", "keypoints": ["a"], "layout": [[2, 0.5]]}),
         "keypoints: Keypoint &#x27;a&#x27;: layout must be [x, y] with both between 0 and 1, got [2, 0.5]."),
        (json.dumps([{"name": "a", "keypoints": ["a"]}, {"name": "b", "keypoints": ["b"]}]),
         "Found 2 categories (a, b); import them one at a time."),
        ("", "Upload a file or paste JSON"),
    ],
)
def test_import_view_shows_errors_for_a_bad_category(admin_client, payload, message):
    response = admin_client.post(IMPORT, {"text": payload})
    html = errors_of(response)
    assert message in html
    assert "could not be imported" in html or "Upload a file" in html
    assert not Skeleton.objects.exists()


def test_import_view_takes_the_keypoint_category_of_a_whole_coco_file(admin_client):
    coco = {"images": [], "annotations": [], "categories": [
        {"id": 2, "name": "car"},
        {"id": 1, "name": "stick", "keypoints": ["top", "bottom"], "skeleton": [[1, 2]], "sigmas": [0.1, 0.1]},
    ]}
    admin_client.post(IMPORT, {"text": json.dumps(coco)})
    assert Skeleton.objects.get(name="stick").keypoints.count() == 2


def test_import_needs_add_permission(django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    client = Client()
    client.force_login(user)
    assert client.get(IMPORT).status_code == 403
