"""Every endpoint of the workforce issue x every role: the exact allowed or denied outcome.

404 means "outside your reach, not even its existence is told"; 403 means
"you can see it but your role may not do this". A denied write must leave
the database exactly as it was; an allowed one must have happened.
"""

from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model

from annotation.models import Annotation, Assignment, InstructionsAcknowledgement, Membership, ProjectAnnotator
from annotation.engine import next_task

from .factories import client_for, grant, instance, make_user, make_world, with_instructions

pytestmark = pytest.mark.django_db

# anonymous: 401 with WWW-Authenticate (no credentials), never a bare 403
ROLES = [
    "anonymous", "outsider", "staff", "org_admin", "project_manager", "org_qa_lead",
    "vendor_manager_a", "vendor_qa_lead_a", "annotator_a", "annotator_a2", "vendor_manager_b", "annotator_b",
]
TODAY = date.today().isoformat()
MONTH_AGO = (date.today() - timedelta(days=30)).isoformat()


def endpoint(method, url, payload=None):
    return {"method": method, "url": url, "payload": payload}


# url templates are filled from the scenario's ids: {project} {assignment} {vendor_a}
# {membership_a2} {staffing_a2} {spare_a}
ENDPOINTS = {
    "tasks_next": (endpoint("post", "/api/v1/projects/{project}/tasks/next/"),
                   [401, 404, 403, 403, 403, 403, 403, 403, 200, 201, 403, 201]),
    "instructions": (endpoint("get", "/api/v1/projects/{project}/instructions/"),
                     [401, 404, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    "acknowledge": (endpoint("post", "/api/v1/projects/{project}/instructions/acknowledge/", {"version": 2}),
                    [401, 404, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    "assignment_list": (endpoint("get", "/api/v1/assignments/"),
                        [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    "assignment_get": (endpoint("get", "/api/v1/assignments/{assignment}/"),
                       [401, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404, 404]),
    "assignment_draft": (endpoint("put", "/api/v1/assignments/{assignment}/", {"draft": {"step": 1}}),
                         [401, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404, 404]),
    "assignment_heartbeat": (endpoint("post", "/api/v1/assignments/{assignment}/heartbeat/", {"active_ms": 5}),
                             [401, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404, 404]),
    "assignment_submit": (endpoint("post", "/api/v1/assignments/{assignment}/submit/", {"instances": [instance()]}),
                          [401, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404, 404]),
    "assignment_release": (endpoint("post", "/api/v1/assignments/{assignment}/release/", {}),
                           [401, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404, 404]),
    "vendor_list": (endpoint("get", "/api/v1/vendors/"),
                    [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    "vendor_detail": (endpoint("get", "/api/v1/vendors/{vendor_a}/"),
                      [401, 404, 200, 200, 200, 404, 200, 200, 200, 200, 404, 404]),
    "members_list": (endpoint("get", "/api/v1/vendors/{vendor_a}/members/"),
                     [401, 404, 200, 403, 403, 404, 200, 200, 403, 403, 404, 404]),
    "members_add": (endpoint("post", "/api/v1/vendors/{vendor_a}/members/", {"handle": "newcomer"}),
                    [401, 404, 201, 403, 403, 404, 201, 403, 403, 403, 404, 404]),
    "member_deactivate": (endpoint("patch", "/api/v1/vendors/{vendor_a}/members/{membership_a2}/", {"is_active": False}),
                          [401, 404, 200, 403, 403, 404, 200, 403, 403, 403, 404, 404]),
    "member_remove": (endpoint("delete", "/api/v1/vendors/{vendor_a}/members/{membership_a2}/"),
                      [401, 404, 204, 403, 403, 404, 204, 403, 403, 403, 404, 404]),
    "vendor_projects": (endpoint("get", "/api/v1/vendors/{vendor_a}/projects/"),
                        [401, 404, 200, 403, 403, 404, 200, 200, 403, 403, 404, 404]),
    "staffing_list": (endpoint("get", "/api/v1/vendors/{vendor_a}/staffing/"),
                      [401, 404, 200, 403, 403, 404, 200, 200, 403, 403, 404, 404]),
    "staffing_add": (endpoint("post", "/api/v1/vendors/{vendor_a}/staffing/", {"user": "{spare_a}", "project": "{project}"}),
                     [401, 404, 201, 403, 403, 404, 201, 403, 403, 403, 404, 404]),
    "staffing_remove": (endpoint("delete", "/api/v1/vendors/{vendor_a}/staffing/{staffing_a2}/"),
                        [401, 404, 204, 403, 403, 404, 204, 403, 403, 403, 404, 404]),
    "timesheet": (endpoint("get", f"/api/v1/vendors/{{vendor_a}}/timesheet/?date_from={MONTH_AGO}&date_to={TODAY}"),
                  [401, 404, 200, 403, 403, 404, 200, 403, 403, 403, 404, 404]),
    "stats": (endpoint("get", "/api/v1/workforce/stats/"),
              [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
}


def scenario():
    """The shared world, plus: annotator_a holds a lease, a2 and b each submitted one image."""
    world = make_world(images=4, replicas=3)
    with_instructions(world.project, version=2)
    for name in ("annotator_a", "annotator_a2", "annotator_b"):
        InstructionsAcknowledgement.objects.create(
            user=world[name], instructions=world.project.instructions, version=2, acknowledged_at="2026-01-01T00:00Z"
        )
    from annotation.engine import submit_assignment

    project = world.project
    own, _ = next_task(world["annotator_a"], project, vendor_id=world.vendor_a.pk)
    for name, vendor in (("annotator_a2", world.vendor_a), ("annotator_b", world.vendor_b)):
        lease, _ = next_task(world[name], project, vendor_id=vendor.pk)
        submit_assignment(lease, [instance()])
    spare = make_user()
    grant(spare, Membership.Role.ANNOTATOR, vendor=world.vendor_a)
    ids = {
        "project": project.pk, "assignment": own.pk, "vendor_a": world.vendor_a.pk, "spare_a": spare.pk,
        "membership_a2": Membership.objects.get(user=world["annotator_a2"], vendor=world.vendor_a).pk,
        "staffing_a2": ProjectAnnotator.objects.get(user=world["annotator_a2"]).pk,
    }
    return world, ids


def fingerprint():
    """Everything a write endpoint of this issue could change."""
    return (
        get_user_model().objects.count(),
        sorted(Membership.objects.values_list("id", "is_active")),
        sorted(ProjectAnnotator.objects.values_list("id", flat=True)),
        sorted(Assignment.objects.values_list("id", "state", "draft", "active_ms", "client_active_ms")),
        Annotation.objects.count(),
        InstructionsAcknowledgement.objects.count(),
    )


def fill(value, ids):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        filled = {k: fill(v, ids) for k, v in value.items()}
        return {k: int(v) if isinstance(v, str) and v.isdigit() else v for k, v in filled.items()}
    return value


# Allowed writes that repeat what is already true: the lease held, the version already acknowledged.
IDEMPOTENT_REPEATS = {
    ("tasks_next", "annotator_a"), ("acknowledge", "annotator_a"), ("acknowledge", "annotator_a2"),
    ("acknowledge", "annotator_b"),
}
CASES = [(name, role, codes[i]) for name, (_, codes) in ENDPOINTS.items() for i, role in enumerate(ROLES)]


@pytest.mark.parametrize(("endpoint_name", "role", "expected"), CASES, ids=[f"{e}-{r}" for e, r, _ in CASES])
def test_permission_matrix(endpoint_name, role, expected):
    world, ids = scenario()
    spec = ENDPOINTS[endpoint_name][0]
    # A real API token, not forced authentication: tasks/next and the assignment
    # actions check it in their own statement (api/authentication.py).
    client = client_for(None if role == "anonymous" else world[role], token=True)
    before = fingerprint()
    payload = fill(spec["payload"], ids)
    kwargs = {"format": "json"} if payload is not None else {}
    response = getattr(client, spec["method"])(fill(spec["url"], ids), payload, **kwargs)
    assert response.status_code == expected, (endpoint_name, role, getattr(response, "data", response.content))
    if expected >= 400:
        assert fingerprint() == before, "a denied request changed the database"
        assert response["Content-Type"].startswith("application/json") and "detail" in response.json()
    elif spec["method"] != "get" and (endpoint_name, role) not in IDEMPOTENT_REPEATS:
        assert fingerprint() != before, "an allowed write changed nothing"


# --- what the allowed reads contain ------------------------------------------------------

VENDORS_SEEN = {
    "outsider": set(), "staff": {"A", "B"}, "org_admin": {"A", "B"}, "project_manager": {"A", "B"},
    "org_qa_lead": set(), "vendor_manager_a": {"A"}, "vendor_qa_lead_a": {"A"}, "annotator_a": {"A"},
    "annotator_a2": {"A"}, "vendor_manager_b": {"B"}, "annotator_b": {"B"},
}
# Whose numbers each role reads in /workforce/stats/ (annotator_a has an open lease, a2 and b submitted).
STATS_SEEN = {
    "outsider": set(), "staff": {"annotator_a", "annotator_a2", "annotator_b"},
    "org_admin": {"annotator_a", "annotator_a2", "annotator_b"},
    "project_manager": {"annotator_a", "annotator_a2", "annotator_b"},
    "org_qa_lead": {"annotator_a", "annotator_a2", "annotator_b"},
    "vendor_manager_a": {"annotator_a", "annotator_a2"}, "vendor_qa_lead_a": {"annotator_a", "annotator_a2"},
    "annotator_a": {"annotator_a"}, "annotator_a2": {"annotator_a2"},
    "vendor_manager_b": {"annotator_b"}, "annotator_b": {"annotator_b"},
}


@pytest.mark.parametrize("role", list(VENDORS_SEEN))
def test_list_contents_are_scoped_to_the_role(role):
    world, ids = scenario()
    client = client_for(world[role])
    names = {world.vendor_a.name: "A", world.vendor_b.name: "B"}
    vendors = {names[v["name"]] for v in client.get("/api/v1/vendors/").data}
    assert vendors == VENDORS_SEEN[role]

    usernames = {world[name].username: name for name in ("annotator_a", "annotator_a2", "annotator_b")}
    rows = client.get("/api/v1/workforce/stats/").data["results"]
    assert {usernames[r["annotator"]["username"]] for r in rows} == STATS_SEEN[role]

    own = client.get("/api/v1/assignments/").data["results"]
    assert all(a["id"] in Assignment.objects.filter(annotator=world[role]).values_list("id", flat=True) for a in own)
    assert len(own) == Assignment.objects.filter(annotator=world[role]).count()


def test_a_vendor_manager_cannot_enrol_another_vendors_annotator():
    """Another vendor's annotator's username names a new account in vendor A's namespace."""
    world, ids = scenario()
    client = client_for(world["vendor_manager_a"])
    response = client.post(f"/api/v1/vendors/{ids['vendor_a']}/members/", {"handle": world["annotator_b"].username},
                           format="json")
    assert response.status_code == 201
    assert response.data["user"]["username"] == f"v{ids['vendor_a']}.{world['annotator_b'].username}"
    assert not Membership.objects.filter(user=world["annotator_b"], vendor=world.vendor_a).exists()


def test_a_vendor_manager_cannot_change_a_fellow_manager():
    world, ids = scenario()
    other_manager = Membership.objects.create(
        user=make_user(), role=Membership.Role.VENDOR_MANAGER, vendor=world.vendor_a
    )
    response = client_for(world["vendor_manager_a"]).patch(
        f"/api/v1/vendors/{ids['vendor_a']}/members/{other_manager.pk}/", {"is_active": False}, format="json"
    )
    assert response.status_code == 403
    other_manager.refresh_from_db()
    assert other_manager.is_active


def test_a_vendor_manager_cannot_staff_on_a_project_not_granted_to_the_vendor():
    world, ids = scenario()
    world.project.vendors.remove(world.vendor_a)
    response = client_for(world["vendor_manager_a"]).post(
        f"/api/v1/vendors/{ids['vendor_a']}/staffing/", {"user": ids["spare_a"], "project": ids["project"]},
        format="json",
    )
    assert response.status_code == 400 and "not granted" in response.data["errors"]["project"][0]


def test_a_vendor_manager_cannot_staff_another_vendors_annotator():
    world, ids = scenario()
    response = client_for(world["vendor_manager_a"]).post(
        f"/api/v1/vendors/{ids['vendor_a']}/staffing/", {"user": world["annotator_b"].pk, "project": ids["project"]},
        format="json",
    )
    assert response.status_code == 400 and "not an active annotator" in response.data["errors"]["user"][0]
