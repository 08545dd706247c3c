"""The engine's two sets of statements agree: PostgreSQL's (engine/postgres.py) against
the ORM reference (engine/reference.py), function by function on the same rows."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from annotation.engine import postgres, reference, rules
from annotation.models import Assignment, Image

from .factories import make_images, make_project, make_user, prefill

pytestmark = pytest.mark.django_db


def _situations():
    """A project whose images cover every case of the candidate condition, for one annotator."""
    now = timezone.now()
    project = make_project(replicas=2)
    me, other, third = make_user(), make_user(), make_user()
    fresh = make_images(project, 3)
    Image.objects.filter(pk=fresh[1].pk).update(priority=5)
    half, full, mine = make_images(project, 3)
    prefill([half], [other])
    prefill([full], [other, third])
    prefill([mine], [me])
    overdue = make_images(project, 1)
    prefill(overdue, [other, third], state="leased", leased_at=now - timedelta(hours=2), lease_seconds=60)
    gold = make_images(project, 3, is_gold=True)
    prefill(gold[:1], [other, third])
    done = make_images(project, 2)
    for image, status in zip(done, ("scoring", "accepted")):
        Image.objects.filter(pk=image.pk).update(status=status)
    return project, me, now


@pytest.mark.parametrize("gold", [False, True])
def test_the_candidate_condition_is_the_same_in_sql_and_in_the_orm(gold):
    from django.db import connection

    project, me, now = _situations()
    expected = list(rules.candidates(me, project, now, gold=gold).values_list("id", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT i.id {rules.candidate_sql(gold=gold)}", {
            "project": project.pk, "gold": gold, "replicas": project.replicas, "user": me.pk, "now": now,
        })
        got = [row[0] for row in cursor.fetchall()]
    assert got == expected
    assert len(expected) == (3 if gold else 5)  # 3 fresh, the half-full one and the overdue one


@pytest.mark.parametrize("gold", [False, True])
def test_both_select_the_same_candidate(gold):
    project, me, now = _situations()
    picked = []
    for statements in (reference, postgres):
        with transaction.atomic():
            image = statements.select_candidate(me, project, now, gold=gold)
            picked.append((image.pk, image.status, image.next_lease_expiry, image.width, image.file.name))
    assert picked[0] == picked[1]


def test_both_recount_the_same_and_start_only_a_new_image():
    project, me, now = _situations()
    images = list(Image.objects.filter(project=project).order_by("id"))
    # Scramble the counters, then let each recount one half back.
    Image.objects.filter(project=project).update(slots_taken=9, submitted_count=9, next_lease_expiry=None)
    results = {}
    for statements, part in ((reference, images[::2]), (postgres, images[1::2])):
        for image in part:
            results[image.pk] = statements.recount_one(image.pk, start=True)
    truth = {
        image.pk: (
            Assignment.objects.filter(image=image, state__in=rules.HOLDS_A_SLOT).count(),
            Assignment.objects.filter(image=image, state="submitted").count(),
        ) for image in images
    }
    for image in images:
        slots, submitted, status = results[image.pk]
        assert (slots, submitted) == truth[image.pk]
        assert status == ("annotating" if image.status == "new" else image.status)


def test_both_lock_the_same_image_and_assignment():
    project, me, now = _situations()
    assignment = Assignment.objects.filter(project=project).order_by("id").first()
    locked = []
    for statements in (reference, postgres):
        with transaction.atomic():
            image, row = statements.lock_image_and_assignment(assignment.pk)
            locked.append((image.pk, image.is_gold, image.status, image.slots_taken, row.pk, row.state, row.image_id))
    assert locked[0] == locked[1]
    with pytest.raises(Assignment.DoesNotExist):
        reference.lock_image_and_assignment(10**9)
    with pytest.raises(Assignment.DoesNotExist):
        postgres.lock_image_and_assignment(10**9)
