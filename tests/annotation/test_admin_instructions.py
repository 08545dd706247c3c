"""Instructions admin through Django's test client, as a signed-in staff user."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image as PILImage

from annotation.models import InstructionExample, Instructions, InstructionsRevision, Organization
from annotation.services.instructions import create_instructions, update_instructions

pytestmark = pytest.mark.django_db

ADD = reverse("admin:annotation_instructions_add")


def owner():
    """The organization the test's instructions belong to."""
    return Organization.objects.get_or_create(name="Owner")[0]


def change_url(instructions):
    return reverse("admin:annotation_instructions_change", args=[instructions.pk])


@pytest.fixture
def admin_client(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


def png(name="example.png"):
    buffer = io.BytesIO()
    PILImage.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def post_data(title, body, examples=(), example_ids=(), revision_ids=()):
    data = {
        "organization": str(owner().pk), "title": title, "body": body,
        "examples-TOTAL_FORMS": str(len(examples)), "examples-INITIAL_FORMS": str(len(example_ids)),
        "examples-MIN_NUM_FORMS": "0", "examples-MAX_NUM_FORMS": "1000",
        "revisions-TOTAL_FORMS": str(len(revision_ids)), "revisions-INITIAL_FORMS": str(len(revision_ids)),
        "revisions-MIN_NUM_FORMS": "0", "revisions-MAX_NUM_FORMS": "1000",
    }
    for i, example in enumerate(examples):
        if i < len(example_ids):
            data[f"examples-{i}-id"] = str(example_ids[i])
        for key, value in example.items():
            data[f"examples-{i}-{key}"] = value
    for i, pk in enumerate(revision_ids):
        data[f"revisions-{i}-id"] = str(pk)
    return data


def existing_examples(instructions):
    rows = [{"kind": e.kind, "caption": e.caption, "order": str(e.order)} for e in instructions.examples.all()]
    return rows, [e.pk for e in instructions.examples.all()]


def test_add_creates_version_1_with_a_good_and_a_bad_example(admin_client):
    data = post_data("Pose guide", "Label **every** visible joint.", examples=[
        {"image": png("good.png"), "kind": "good", "caption": "all joints", "order": "0"},
        {"image": png("bad.png"), "kind": "bad", "caption": "left/right swapped", "order": "1"},
    ])
    response = admin_client.post(ADD, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    instructions = Instructions.objects.get()
    assert instructions.version == 1
    assert sorted(instructions.examples.values_list("kind", flat=True)) == ["bad", "good"]
    assert not InstructionsRevision.objects.exists()


def test_change_page_shows_the_sanitized_preview_examples_and_revisions(admin_client):
    instructions = create_instructions(
        organization=owner(), title="Guide", body="# Rules\n\n<script>alert('x')</script>\n\n<img src=x onerror=alert(1)>\n\n"
        "[help](javascript:alert(1)) and [docs](https://example.com)",
    )
    InstructionExample.objects.create(instructions=instructions, image=png(), kind="bad", caption="swapped wrists")
    update_instructions(instructions, body=instructions.body + "\n\nMore.")
    html = admin_client.get(change_url(instructions)).content.decode()
    preview = html[html.index('class="instructions-preview"'):]
    preview = preview[: preview.index("</fieldset>")]
    assert "<h1>Rules</h1>" in preview
    assert '<a href="https://example.com" rel="noopener nofollow">docs</a>' in preview
    assert "<script" not in preview and "onerror" not in preview and "javascript:" not in preview
    assert "instruction-example-bad" in preview and "swapped wrists" in preview
    # the archived version 1 is listed, read-only: no input for its title
    assert "earlier versions" in html.lower()
    assert 'name="revisions-0-title"' not in html
    assert "Guide" in html[html.index("revisions-group"):]


def test_saving_unchanged_content_keeps_the_version(admin_client):
    instructions = create_instructions(organization=owner(), title="Guide", body="Same text")
    response = admin_client.post(change_url(instructions), post_data("Guide", "Same text"))
    assert response.status_code == 302
    instructions.refresh_from_db()
    assert instructions.version == 1
    assert not InstructionsRevision.objects.exists()


def test_changing_the_body_bumps_the_version_and_archives_the_old_text(admin_client):
    instructions = create_instructions(organization=owner(), title="Guide", body="Old text")
    response = admin_client.post(change_url(instructions), post_data("Guide", "New text"), follow=True)
    instructions.refresh_from_db()
    assert (instructions.version, instructions.body) == (2, "New text")
    revision = InstructionsRevision.objects.get()
    assert (revision.version, revision.body) == (1, "Old text")
    assert "Saved as version 2; version 1 is archived" in response.content.decode()


def test_a_second_edit_archives_again_and_leaves_earlier_revisions_alone(admin_client):
    instructions = create_instructions(organization=owner(), title="Guide", body="one")
    update_instructions(instructions, body="two")
    first = InstructionsRevision.objects.get()
    data = post_data("Guide", "three", revision_ids=[first.pk])
    assert admin_client.post(change_url(instructions), data).status_code == 302
    instructions.refresh_from_db()
    assert instructions.version == 3
    assert list(InstructionsRevision.objects.values_list("version", "body")) == [(2, "two"), (1, "one")]


def test_adding_and_text_change_in_one_save_make_one_version(admin_client):
    instructions = create_instructions(organization=owner(), title="Guide", body="Old text")
    data = post_data("Guide v2", "New text", examples=[
        {"image": png(), "kind": "good", "caption": "like this", "order": "0"},
    ])
    admin_client.post(change_url(instructions), data)
    instructions.refresh_from_db()
    assert instructions.version == 2
    assert InstructionsRevision.objects.get().title == "Guide"
    assert instructions.examples.count() == 1


def test_changing_only_an_example_bumps_the_version(admin_client):
    instructions = create_instructions(organization=owner(), title="Guide", body="Text")
    InstructionExample.objects.create(instructions=instructions, image=png(), kind="good", caption="ok")
    rows, ids = existing_examples(instructions)
    rows[0]["kind"] = "bad"
    admin_client.post(change_url(instructions), post_data("Guide", "Text", examples=rows, example_ids=ids))
    instructions.refresh_from_db()
    assert instructions.version == 2
    assert instructions.examples.get().kind == "bad"


def test_removing_an_example_bumps_the_version(admin_client):
    instructions = create_instructions(organization=owner(), title="Guide", body="Text")
    InstructionExample.objects.create(instructions=instructions, image=png(), kind="good", caption="ok")
    rows, ids = existing_examples(instructions)
    rows[0]["DELETE"] = "on"
    admin_client.post(change_url(instructions), post_data("Guide", "Text", examples=rows, example_ids=ids))
    instructions.refresh_from_db()
    assert instructions.version == 2
    assert not instructions.examples.exists()


def test_changelist_searches_the_body(admin_client):
    create_instructions(organization=owner(), title="Hands", body="Fingertips first")
    create_instructions(organization=owner(), title="People", body="Whole body")
    response = admin_client.get(reverse("admin:annotation_instructions_changelist"), {"q": "fingertips"})
    assert [i.title for i in response.context["cl"].result_list] == ["Hands"]
