"""Sign-in and the landing pages, through Django's test client (the editor itself is tested in Chromium)."""

import pytest
from django.test import Client

from annotation.models import Assignment, Membership
from tests.annotation.factories import make_world, prefill, with_instructions

pytestmark = pytest.mark.django_db


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_anonymous_visitors_are_sent_to_the_product_sign_in_page():
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    page = Client().get(response["Location"])
    assert b'id="sign-in"' in page.content and b"/admin/" not in page.content


def test_sign_in_with_django_login_view_lands_on_home(django_user_model):
    django_user_model.objects.create_user("pat", password="s3cret-pass")
    client = Client()
    refused = client.post("/accounts/login/", {"username": "pat", "password": "wrong"})
    assert refused.status_code == 200 and b"Please enter a correct username and password" in refused.content
    signed_in = client.post("/accounts/login/", {"username": "pat", "password": "s3cret-pass"})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/"
    signed_out = client.post("/accounts/logout/")
    assert signed_out["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302


def test_annotators_land_on_their_projects_with_their_own_numbers():
    world = make_world(images=4, replicas=2)
    with_instructions(world.project)
    annotator = world["annotator_a"]
    prefill(world.images[:3], [annotator])
    prefill(world.images[:1], [world["annotator_b"]])  # someone else's work is not counted
    Assignment.objects.filter(annotator=annotator).update(active_ms=30_000)
    page = client_of(annotator).get("/")
    assert page.templates[0].name == "frontend/home_annotator.html"
    [row] = page.context["rows"]
    assert (row["project"], row["submitted"], row["submitted_today"]) == (world.project, 3, 3)
    assert row["seconds_per_image"] == 30.0 and row["needs_acknowledgement"]
    html = page.content.decode()
    assert f'href="/label/{world.project.pk}/"' in html and "Start labeling" in html


def test_other_roles_get_a_page_of_what_they_can_reach():
    world = make_world(images=1)
    page = client_of(world["project_manager"]).get("/")
    assert page.templates[0].name == "frontend/home_reachable.html"
    titles = [area["title"] for area in page.context["areas"]]
    assert "Projects you manage" in titles and "Vendors you run" not in titles
    assert world.project.name in page.content.decode()
    vendor_page = client_of(world["vendor_manager_b"]).get("/")
    assert [item["name"] for item in next(a for a in vendor_page.context["areas"] if a["title"] == "Vendors you run")["items"]] == [world.vendor_b.name]
    nobody = client_of(world["outsider"]).get("/")
    assert nobody.context["areas"] == [] and b"no role on any project" in nobody.content


def test_the_workspace_opens_only_for_staffed_annotators():
    world = make_world(images=1)
    assert client_of(world["annotator_a"]).get(f"/label/{world.project.pk}/").status_code == 200
    for role in ("project_manager", "vendor_manager_a", "outsider"):
        assert client_of(world[role]).get(f"/label/{world.project.pk}/").status_code == 404, role
    Membership.objects.filter(user=world["annotator_a"]).update(is_active=False)
    assert client_of(world["annotator_a"]).get(f"/label/{world.project.pk}/").status_code == 404
    assert Client().get(f"/label/{world.project.pk}/").status_code == 302


def test_the_workspace_page_carries_settings_only_and_the_key_table():
    from frontend.keymap import KEYMAP

    world = make_world(images=1)
    prefill(world.images, [world["annotator_b"]])
    page = client_of(world["annotator_a"]).get(f"/label/{world.project.pk}/")
    config = page.context["config"]
    assert set(config) == {"project", "user", "urls", "keymap"}
    assert config["keymap"] == KEYMAP
    assert config["project"] == {
        "id": world.project.pk, "name": world.project.name, "idle_limit_seconds": world.project.idle_limit_seconds,
        "lease_seconds": world.project.lease_seconds, "has_instructions": False,
    }


def test_the_readme_documents_every_default_key():
    from pathlib import Path

    from frontend.keymap import KEYMAP

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for row in KEYMAP:
        assert f"| {row['label']} |" in readme, row["action"]
