"""The image state machine: only the table's transitions can happen, and only its module writes a status."""

import itertools
import re
from pathlib import Path

import pytest
from django.test import Client

from annotation.models import Image
from annotation.services import image_status

from .factories import make_images, make_project

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
STATES = list(Image.Status.values)


def test_the_table_is_the_pipeline_the_review_stage_needs():
    assert set(STATES) == {"new", "annotating", "scoring", "review", "rework", "accepted"}
    assert image_status.ALLOWED == {
        ("new", "annotating"), ("annotating", "scoring"), ("scoring", "annotating"), ("scoring", "review"),
        ("scoring", "accepted"), ("review", "accepted"), ("review", "rework"), ("review", "annotating"),
        ("rework", "scoring"), ("accepted", "review"),
    }
    assert image_status.IN_ANNOTATION == ("new", "annotating")


def test_every_pair_of_states_moves_only_along_the_table():
    project = make_project()
    pairs = list(itertools.product(STATES, STATES))
    images = make_images(project, len(pairs))
    for image, (source, _) in zip(images, pairs):
        Image.objects.filter(pk=image.pk).update(status=source)  # test setup: put each image in its state
    for image, (source, target) in zip(images, pairs):
        moved = image_status.move([image.pk], source=source, target=target)
        allowed = (source, target) in image_status.ALLOWED
        assert moved == (1 if allowed else 0), (source, target)
        assert Image.objects.get(pk=image.pk).status == (target if allowed else source), (source, target)


@pytest.mark.parametrize("transition", image_status.TRANSITIONS, ids=lambda t: t.name)
def test_each_transition_function_moves_only_images_in_its_source_state(transition):
    project = make_project()
    images = make_images(project, len(STATES))
    for image, state in zip(images, STATES):
        Image.objects.filter(pk=image.pk).update(status=state)
    moved = getattr(image_status, transition.name)(Image.objects.filter(project=project))
    assert moved == 1
    after = dict(Image.objects.filter(project=project).values_list("pk", "status"))
    for image, state in zip(images, STATES):
        assert after[image.pk] == (transition.target if state == transition.source else state)


def test_the_start_fragment_moves_new_to_annotating_and_leaves_the_rest():
    from django.db import connection

    project = make_project()
    images = make_images(project, len(STATES))
    for image, state in zip(images, STATES):
        Image.objects.filter(pk=image.pk).update(status=state)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE annotation_image SET status = {image_status.sql_start_annotation('status')} WHERE project_id = %s",
            [project.pk],
        )
    after = dict(Image.objects.filter(project=project).values_list("pk", "status"))
    assert [after[i.pk] for i in images] == ["annotating" if s == "new" else s for s in STATES]


#: What a status write looks like in Python or SQL.
WRITES = re.compile(
    r"update\(\s*status\s*=|\.status\s*=[^=]|\bstatus\s*=\s*CASE\b|\bSET\s+status\s*=|^\s*status\s*=\s*'",
    re.IGNORECASE | re.MULTILINE,
)


def test_no_module_but_the_state_machine_writes_an_image_status():
    owner = ROOT / "annotation" / "services" / "image_status.py"
    offenders = []
    for app in ("annotation", "review", "jointly", "models_registry", "frontend"):
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts or path == owner:
                continue
            for match in WRITES.finditer(path.read_text()):
                offenders.append(f"{path.relative_to(ROOT)}: {match.group(0).strip()}")
    assert offenders == []


def test_admin_shows_status_read_only_and_offers_the_allowed_transitions(staff_user):
    project = make_project()
    in_review, in_scoring = make_images(project, 2)
    Image.objects.filter(pk=in_review.pk).update(status="review")
    Image.objects.filter(pk=in_scoring.pk).update(status="scoring")
    client = Client()
    client.force_login(staff_user)
    page = client.get(f"/admin/annotation/image/{in_review.pk}/change/").content.decode()
    assert 'name="status"' not in page  # not an editable field
    assert "Accept (review) → accepted" in page and "Send to rework → rework" in page

    changelist = client.get("/admin/annotation/image/").content.decode()
    assert 'value="transition_send_to_rework"' in changelist
    response = client.post("/admin/annotation/image/", {
        "action": "transition_send_to_rework", "_selected_action": [in_review.pk, in_scoring.pk],
    }, follow=True)
    assert "1 of 2 image(s) moved from review to rework" in response.content.decode()
    assert Image.objects.get(pk=in_review.pk).status == "rework"
    assert Image.objects.get(pk=in_scoring.pk).status == "scoring"  # not a transition out of scoring
