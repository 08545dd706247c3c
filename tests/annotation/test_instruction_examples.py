"""Instruction example images are served to exactly those who may read the instructions."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from annotation.models import InstructionExample, Instructions

from .factories import client_for, make_world, with_instructions

pytestmark = pytest.mark.django_db


def _png() -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (3, 2), "blue").save(buffer, format="PNG")
    return buffer.getvalue()


def _example(instructions) -> InstructionExample:
    return InstructionExample.objects.create(
        instructions=instructions, kind="good", caption="elbow", image=SimpleUploadedFile("elbow.png", _png()))


def test_an_example_is_served_to_whoever_may_read_its_instructions_and_is_a_404_to_anyone_else():
    world = make_world(images=1)
    example = _example(with_instructions(world.project))
    elsewhere = make_world(images=1)  # another organization, with its own vendors and people
    url = f"/api/v1/instruction-examples/{example.pk}/image/"
    expected = {
        "annotator of the project": (world["annotator_a"], 200),
        "vendor manager of a vendor granted the project": (world["vendor_manager_a"], 200),
        "project manager of the organization": (world["project_manager"], 200),
        "annotator of another organization": (elsewhere["annotator_a"], 404),
        "vendor manager of another organization's vendor": (elsewhere["vendor_manager_a"], 404),
        "project manager of another organization": (elsewhere["project_manager"], 404),
    }
    for role, (user, status) in expected.items():
        client = client_for(user)
        response = client.get(url)
        assert response.status_code == status, role
        # The same rule as the instructions themselves.
        assert client.get(f"/api/v1/projects/{world.project.pk}/instructions/").status_code == status, role
        if status == 200:
            assert response["Content-Type"] == "image/png" and b"".join(response.streaming_content) == _png()
        else:
            assert response.json()["detail"] == "No such example."
    anonymous = client_for(None).get(url)
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Token"


def test_the_instructions_link_their_examples_through_the_guarded_url():
    world = make_world(images=1)
    example = _example(with_instructions(world.project))
    body = client_for(world["annotator_a"]).get(f"/api/v1/projects/{world.project.pk}/instructions/").json()
    assert [e["url"] for e in body["examples"]] == [f"http://testserver/api/v1/instruction-examples/{example.pk}/image/"]
    assert "/media/" not in str(body)


def test_an_example_of_instructions_no_project_uses_is_for_the_organizations_people_only():
    world = make_world(images=1)
    library = Instructions.objects.create(organization=world.organization, title="Draft", body="not yet used")
    url = f"/api/v1/instruction-examples/{_example(library).pk}/image/"
    assert client_for(world["project_manager"]).get(url).status_code == 200
    for role in ("annotator_a", "vendor_manager_a"):
        assert client_for(world[role]).get(url).status_code == 404, role
    assert client_for(world["project_manager"]).get("/api/v1/instruction-examples/999999/image/").status_code == 404
