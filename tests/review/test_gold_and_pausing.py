"""Gold scoring on submit, qualification and automatic pausing, as the annotator and the vendor manager see them."""

import numpy as np
import pytest

from annotation.models import Annotation, Image, ProjectAnnotator
from review.agreement import compute_oks
from review.models import GoldScore, ReviewDecision
from review.services.gold import score_against_gold
from tests.annotation.factories import make_images

from .review_world import make_review_world, person

pytestmark = pytest.mark.django_db


def add_gold(world, count):
    images = make_images(world.project, count, is_gold=True)
    Annotation.objects.bulk_create(
        Annotation(image=im, source="gold", instances=[person(noise=0.0)]) for im in images
    )
    return images


def staffing_view(world, user):
    rows = world.client(world.vendor_manager).get(f"/api/v1/vendors/{world.vendor.pk}/staffing/").json()
    return next(r for r in rows if r["user"] == user.pk)


def test_gold_oks_equals_pycocotools_and_names_the_joint_that_is_off():
    from annotation.models import Skeleton
    from annotation.services.presets import load_presets

    load_presets()
    spec = Skeleton.objects.get(name="coco-17-person", version=1).spec()
    gold = [person(noise=0.0)]
    off = person(noise=0.0)
    off["keypoints"][5 * 3] += 12.0  # left shoulder 12 px to the right
    scored = score_against_gold(gold, [off], spec)
    g = np.asarray(gold[0]["keypoints"], dtype=float).reshape(17, 3)
    d = np.asarray(off["keypoints"], dtype=float).reshape(17, 3)
    expected = compute_oks(g[:, :2], g[:, 2], 170.0 * 370.0, d[:, :2], spec.sigmas)
    assert scored["oks"] == pytest.approx(float(expected), abs=1e-6)
    worst = min(scored["keypoints"], key=lambda k: k["oks"])
    assert worst["keypoint"] == "left_shoulder" and worst["dx"] == 12.0 and worst["dy"] == 0.0
    # A missed object and an extra instance both score 0.
    assert score_against_gold(gold, [], spec)["oks"] == 0.0
    assert score_against_gold(gold, [off, person(noise=0.0, shift=(-200, 0))], spec)["oks"] == pytest.approx(
        float(expected) / 2, abs=1e-6)


def test_qualification_gold_first_then_production_or_a_refusal_showing_the_mistakes():
    world = make_review_world(2, annotators=2, qualification_images=2, qualification_oks=0.8)
    gold_images = add_gold(world, 3)
    good, bad = world.annotators

    for user, shift in ((good, 0.0), (bad, 25.0)):
        for _ in range(2):
            task = world.next_task(user).json()
            assert task["image"]["id"] in {im.pk for im in gold_images}  # gold only while qualifying
            assert "gold" not in str(task).lower()
            world.submit(user, task["id"], [person(seed=user.pk, noise=1.0, shift=(shift, 0.0))])
    assert GoldScore.objects.filter(qualification=True).count() == 4

    task = world.next_task(good).json()
    assert task["image"]["id"] in {im.pk for im in world.images}  # qualified: production work
    refused = world.next_task(bad)
    assert refused.status_code == 403
    result = refused.json()["errors"]["qualification"]
    assert result["passed"] is False and result["mean_oks"] < 0.8 and result["images"] == 2
    assert all(k["dx"] == pytest.approx(25.0, abs=5) and "right of" in k["direction"] for k in result["keypoints"])
    # The vendor manager sees both outcomes with the numbers.
    assert staffing_view(world, good)["qualification"] == "passed"
    bad_row = staffing_view(world, bad)
    assert bad_row["qualification"] == "failed" and bad_row["qualification_result"]["mean_oks"] == result["mean_oks"]
    # Qualification never took a replica slot of a production image.
    assert sorted(Image.objects.filter(pk__in=[im.pk for im in world.images]).values_list("slots_taken", flat=True)) == [0, 1]


def test_a_falling_gold_oks_pauses_at_once_until_the_vendor_manager_resumes():
    world = make_review_world(3, annotators=1, gold_rate=1.0, pause_gold_oks=0.8, pause_window=5)
    add_gold(world, 8)
    user = world.annotators[0]
    for n in range(5):
        task = world.next_task(user).json()
        assert Image.objects.get(pk=task["image"]["id"]).is_gold
        world.submit(user, task["id"], [person(seed=n, noise=1.0, shift=(0.0, 30.0))])
    refused = world.next_task(user)
    assert refused.status_code == 403
    reason = refused.json()["errors"]["paused"]
    assert reason["metric"] == "gold_oks" and reason["value"] < reason["floor"] == 0.8 and reason["images"] == 5
    assert "below the project's floor" in refused.json()["detail"]
    row = staffing_view(world, user)
    assert row["paused_at"] and row["paused_reason"]["value"] == reason["value"]
    # Only the vendor's manager can resume; then work flows again and the old window no longer counts.
    other = world.client(world.annotators[0]).post(
        f"/api/v1/vendors/{world.vendor.pk}/staffing/{row['id']}/resume/")
    assert other.status_code in (403, 404)
    resumed = world.client(world.vendor_manager).post(
        f"/api/v1/vendors/{world.vendor.pk}/staffing/{row['id']}/resume/")
    assert resumed.status_code == 200 and resumed.json()["paused_at"] is None
    assert resumed.json()["paused_reason"]["previous"]["metric"] == "gold_oks"
    assert world.next_task(user).status_code == 201


def test_a_low_leave_one_out_oks_pauses_the_sloppy_annotator_only():
    world = make_review_world(3, auto_accept_oks=0.5, pause_loo_oks=0.6, pause_window=3)
    world.label_all(lambda n, i: [person(seed=10 * n + i, noise=30.0 if n == 2 else 1.5)])
    paused = dict(ProjectAnnotator.objects.filter(project=world.project).values_list("user_id", "paused_at"))
    sloppy = world.annotators[2]
    assert paused[sloppy.pk] is not None
    assert all(paused[u.pk] is None for u in world.annotators[:2])
    refused = world.next_task(sloppy)
    assert refused.status_code == 403 and refused.json()["errors"]["paused"]["metric"] == "loo_oks"


def test_a_qa_lead_promotes_an_accepted_image_to_gold_and_it_then_checks_qualifying_annotators():
    world = make_review_world(1, annotators=4, auto_accept_oks=0.5)
    world.label_all(lambda n, i: [person(seed=n)], only={0, 1, 2})
    image = world.images[0]
    assert Image.objects.get(pk=image.pk).status == "accepted"
    assert world.client(world.annotators[0]).post(f"/api/v1/images/{image.pk}/promote-gold/").status_code == 404
    promoted = world.client(world.qa_lead).post(f"/api/v1/images/{image.pk}/promote-gold/")
    assert promoted.status_code == 200
    image.refresh_from_db()
    assert image.is_gold and image.status == "accepted"
    consensus = Annotation.objects.get(image=image, source="consensus")
    gold = Annotation.objects.get(image=image, source="gold")
    assert gold.instances == consensus.instances
    # The promotion is in the append-only audit trail, like a decision, and in the image's history.
    (audit,) = ReviewDecision.objects.filter(image=image)
    assert (audit.action, audit.actor, audit.task) == ("promote_gold", world.qa_lead, None)
    assert audit.payload == {"from": {"source": "consensus", "annotation": consensus.pk, "version": consensus.version},
                             "gold": {"annotation": gold.pk, "version": gold.version}}
    assert audit.state_before == {"image_status": "accepted", "is_gold": False, "gold": None}
    events = world.client(world.qa_lead).get(f"/api/v1/images/{image.pk}/history/").json()["events"]
    assert events[-1]["event"] == "decision:promote_gold" and events[-1]["task"] is None
    world.project.qualification_images = 1
    world.project.save()
    newcomer = world.annotators[3]
    task = world.next_task(newcomer).json()
    assert task["image"]["id"] == image.pk
    world.submit(newcomer, task["id"], [person(seed=9)])
    score = GoldScore.objects.get(annotator=newcomer)
    assert score.qualification and score.oks > 0.8
    assert ProjectAnnotator.objects.get(user=newcomer).qualification == "passed"
