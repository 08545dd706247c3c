import pytest

from annotation.models import Instructions, InstructionsRevision, Organization
from annotation.services.instructions import (
    create_instructions, render_markdown, save_instructions, update_instructions,
)


def owner():
    """The organization the test's instructions belong to."""
    return Organization.objects.get_or_create(name="Owner")[0]


@pytest.mark.parametrize(
    "source, forbidden",
    [
        ("Hello <script>alert('x')</script> world", ["<script", "alert("]),
        ("<img src=x onerror=alert(1)>", ["onerror"]),
        ("[click](javascript:alert(1))", ["javascript:"]),
        ("[click](JaVaScRiPt:alert(1))", ["javascript:"]),
        ('<a href="data:text/html,<b>x</b>">x</a>', ["data:"]),
        ('<div onclick="steal()" style="position:fixed">t</div>', ["onclick", "style=", "<div"]),
        ("<iframe src='https://evil.example'></iframe>", ["<iframe"]),
        ("<style>body{display:none}</style>ok", ["<style", "display:none"]),
    ],
)
def test_rendering_strips_dangerous_markup(source, forbidden):
    html = render_markdown(source).lower()
    for text in forbidden:
        assert text.lower() not in html


def test_rendering_keeps_markdown_and_marks_links_noopener_nofollow():
    html = render_markdown("# Title\n\nPlace **every** visible joint. See [the guide](https://example.com/g).")
    assert "<h1>Title</h1>" in html
    assert "<strong>every</strong>" in html
    assert '<a href="https://example.com/g" rel="noopener nofollow">the guide</a>' in html


def test_rendering_escapes_code_instead_of_running_it():
    html = render_markdown("```\n<script>alert(1)</script>\n```")
    assert "&lt;script&gt;" in html and "<script" not in html


@pytest.mark.django_db
def test_new_instructions_start_at_version_1_without_revisions():
    instructions = create_instructions(organization=owner(), title="Pose guide", body="Label **every** person.")
    instructions.refresh_from_db()
    assert instructions.version == 1
    assert not InstructionsRevision.objects.exists()


@pytest.mark.django_db
def test_saving_without_a_change_bumps_nothing():
    instructions = create_instructions(organization=owner(), title="Pose guide", body="v1 text")
    assert save_instructions(Instructions.objects.get(pk=instructions.pk)) is False
    assert update_instructions(instructions, title="Pose guide", body="v1 text") is False
    instructions.refresh_from_db()
    assert instructions.version == 1
    assert not InstructionsRevision.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change", [{"body": "v2 text"}, {"title": "Pose guide (hands too)"}, {"examples_changed": True}]
)
def test_a_change_bumps_the_version_and_archives_the_previous_text(change):
    instructions = create_instructions(organization=owner(), title="Pose guide", body="v1 text")
    assert update_instructions(instructions, **change) is True
    instructions.refresh_from_db()
    assert instructions.version == 2
    revision = InstructionsRevision.objects.get(instructions=instructions)
    assert (revision.version, revision.title, revision.body) == (1, "Pose guide", "v1 text")


@pytest.mark.django_db
def test_each_change_archives_the_version_it_replaces():
    instructions = create_instructions(organization=owner(), title="Guide", body="one")
    update_instructions(instructions, body="two")
    update_instructions(instructions, body="three")
    instructions.refresh_from_db()
    assert (instructions.version, instructions.body) == (3, "three")
    archived = list(InstructionsRevision.objects.filter(instructions=instructions).values_list("version", "body"))
    assert archived == [(2, "two"), (1, "one")]


@pytest.mark.django_db
def test_version_comes_from_the_database_not_a_stale_copy():
    instructions = create_instructions(organization=owner(), title="Guide", body="one")
    stale = Instructions.objects.get(pk=instructions.pk)
    update_instructions(instructions, body="two")
    update_instructions(stale, body="three")
    stale.refresh_from_db()
    assert stale.version == 3
    assert list(InstructionsRevision.objects.values_list("version", "body")) == [(2, "two"), (1, "one")]
