"""Organizations, vendors and instructions through the API: every role, the exact outcome."""

import pytest

from annotation.models import Instructions, Membership, Organization, Vendor

from .factories import client_for, make_world

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "outsider", "staff", "org_admin", "project_manager", "org_qa_lead",
         "vendor_manager_a", "vendor_qa_lead_a", "annotator_a", "vendor_manager_b"]

ENDPOINTS = {
    "org_list": ("get", "/api/v1/organizations/", None, [401, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    "org_create": ("post", "/api/v1/organizations/", {"name": "New customer"},
                   [401, 403, 201, 403, 403, 403, 403, 403, 403, 403]),
    "org_detail": ("get", "/api/v1/organizations/{org}/", None, [401, 404, 200, 200, 200, 200, 404, 404, 404, 404]),
    "org_rename": ("patch", "/api/v1/organizations/{org}/", {"name": "Renamed"},
                   [401, 404, 200, 200, 403, 403, 404, 404, 404, 404]),
    "instructions_list": ("get", "/api/v1/instructions/", None, [401, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    "instructions_create": ("post", "/api/v1/instructions/", {"organization": "{org}", "title": "T", "body": "B"},
                            [401, 400, 201, 201, 201, 403, 400, 400, 400, 400]),
    "instructions_detail": ("get", "/api/v1/instructions/{ins}/", None,
                            [401, 404, 200, 200, 200, 200, 404, 404, 404, 404]),
    "instructions_edit": ("patch", "/api/v1/instructions/{ins}/", {"body": "Click every joint."},
                          [401, 404, 200, 200, 200, 403, 404, 404, 404, 404]),
    "vendor_create": ("post", "/api/v1/vendors/", {"name": "Fresh vendor", "organization": "{org}"},
                      [401, 400, 201, 201, 201, 403, 400, 400, 400, 400]),
    "vendor_rename": ("patch", "/api/v1/vendors/{vendor_a}/", {"name": "Vendor A2"},
                      [401, 404, 200, 403, 403, 404, 200, 403, 403, 404]),
}
CASES = [(name, role, codes[i]) for name, (*_, codes) in ENDPOINTS.items() for i, role in enumerate(ROLES)]


def _fill(value, ids):
    if isinstance(value, str):
        filled = value.format(**ids)
        return int(filled) if filled.isdigit() and value.startswith("{") else filled
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _state():
    return (sorted(Organization.objects.values_list("id", "name")), sorted(Vendor.objects.values_list("id", "name")),
            sorted(Instructions.objects.values_list("id", "title", "body", "version")))


@pytest.mark.parametrize(("endpoint", "role", "expected"), CASES, ids=[f"{e}-{r}" for e, r, _ in CASES])
def test_tenancy_permission_matrix(endpoint, role, expected):
    world = make_world(images=0)
    instructions = Instructions.objects.create(organization=world.organization, title="Guide", body="v1")
    ids = {"org": world.organization.pk, "ins": instructions.pk, "vendor_a": world.vendor_a.pk}
    method, url, payload, _ = ENDPOINTS[endpoint]
    client = client_for(None if role == "anonymous" else world[role], token=True)
    before = _state()
    response = getattr(client, method)(_fill(url, ids), _fill(payload, ids), format="json")
    assert response.status_code == expected, (endpoint, role, response.content[:300])
    assert "detail" in response.json() if expected >= 400 else True
    if method != "get" and expected >= 400:
        assert _state() == before  # a refused write changed nothing


def test_lists_show_only_the_callers_own():
    world = make_world(images=0)
    other = Organization.objects.create(name="Elsewhere")
    Instructions.objects.create(organization=other, title="Theirs", body="secret")
    mine = Instructions.objects.create(organization=world.organization, title="Ours", body="v1")
    pm = client_for(world["project_manager"])
    assert [o["id"] for o in pm.get("/api/v1/organizations/").json()] == [world.organization.pk]
    assert [i["id"] for i in pm.get("/api/v1/instructions/").json()] == [mine.pk]
    assert client_for(world["annotator_a"]).get("/api/v1/instructions/").json() == []
    assert client_for(world["vendor_manager_a"]).get("/api/v1/organizations/").json() == []


def test_editing_instructions_makes_a_new_version_and_a_new_vendor_gets_its_manager():
    world = make_world(images=0)
    instructions = Instructions.objects.create(organization=world.organization, title="Guide", body="v1")
    pm = client_for(world["project_manager"])
    edited = pm.patch(f"/api/v1/instructions/{instructions.pk}/", {"body": "v2 **bold**"}, format="json").json()
    assert edited["version"] == 2 and "<strong>bold</strong>" in edited["body_html"]
    assert instructions.revisions.get().body == "v1"
    created = pm.post("/api/v1/vendors/", {"name": "Newco", "organization": world.organization.pk,
                                           "manager_handle": "boss", "manager_password": "a long pass phrase"},
                      format="json")
    assert created.status_code == 201
    vendor = Vendor.objects.get(pk=created.json()["id"])
    assert created.json()["manager_username"] == f"v{vendor.pk}.boss"
    assert list(vendor.organizations.all()) == [world.organization]
    boss = Membership.objects.get(vendor=vendor)
    assert boss.role == "vendor_manager" and boss.user.username == f"v{vendor.pk}.boss" and boss.user.has_usable_password()
    # The new vendor can be granted at once, and its manager can sign in for a token.
    granted = pm.patch(f"/api/v1/projects/{world.project.pk}/", {"vendors": [world.vendor_a.pk, vendor.pk]},
                       format="json")
    assert granted.status_code == 200
    token = client_for(None).post("/api/v1/auth/token/", {"username": f"v{vendor.pk}.boss",
                                                          "password": "a long pass phrase"}, format="json")
    assert token.status_code == 201
