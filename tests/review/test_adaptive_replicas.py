"""Adaptive replicas: an unsettled image gets one more annotator (blind, like any slot) before a QA lead."""

import pytest

from annotation.models import Image
from review.models import ConsensusResult, ReviewTask

from .review_world import make_review_world, person

pytestmark = pytest.mark.django_db

#: One sloppy annotator (12 px noise) with two good ones (1.5 px) pulls agreement below this; with a
#: fourth good one, three of the four agree above it; when no three of four are good, it stays below.
THRESHOLD = 0.88


def labels(n, image_id):
    return [person(seed=n + 1, noise=12.0 if n in (2, 4) else 1.5)]


def mostly_sloppy(n, image_id):
    return [person(seed=n + 1, noise=12.0 if n in (1, 2, 4) else 1.5)]


def scored_with_three(max_replicas, labels=labels):
    world = make_review_world(1, auto_accept_oks=THRESHOLD, annotators=5, replicas=3, max_replicas=max_replicas)
    world.label_all(labels, only={0, 1, 2})
    return world, Image.objects.get(), ConsensusResult.objects.get()


def test_a_fourth_annotator_settles_a_low_agreement_image_without_a_qa_lead():
    world, image, result = scored_with_three(max_replicas=5)
    assert result.decision == "more_replicas" and result.agreement < THRESHOLD
    assert any("one more annotator (4 of at most 5)" in r for r in result.reasons)
    assert image.status == "annotating" and image.extra_replicas == 1
    assert world.next_task(world.annotators[0]).status_code == 204  # never the same annotator twice
    world.label_all(labels, only={3})  # served like any slot: blind, same response
    result.refresh_from_db()
    image.refresh_from_db()
    assert result.n_annotators == 4 and result.decision == "auto_accepted"
    assert image.status == "accepted" and not ReviewTask.objects.exists()
    assert world.next_task(world.annotators[4]).status_code == 204  # settled: no fifth slot


def test_it_reaches_review_when_max_replicas_is_exhausted():
    world, image, result = scored_with_three(max_replicas=4, labels=mostly_sloppy)
    assert result.decision == "more_replicas"
    world.label_all(mostly_sloppy, only={4})  # the fourth is sloppy too: no three of the four agree
    result.refresh_from_db()
    image.refresh_from_db()
    assert result.n_annotators == 4 and result.agreement < THRESHOLD
    assert image.status == "review" and result.decision == "needs_review"
    assert any("max_replicas (4) reached without settling" in r for r in ReviewTask.objects.get().reasons)
    assert world.next_task(world.annotators[3]).status_code == 204


def test_a_blocking_flag_goes_to_review_at_once_and_fixed_replicas_never_add_one():
    world = make_review_world(1, auto_accept_oks=THRESHOLD, annotators=4, replicas=3, max_replicas=5)
    world.label_all(lambda n, i: [person(seed=n + 1, swapped=(n == 1))], only={0, 1, 2})
    assert Image.objects.get().status == "review"
    assert not any("adaptive" in r for r in ConsensusResult.objects.get().reasons)

    fixed = make_review_world(1, auto_accept_oks=THRESHOLD, annotators=4, replicas=3)
    fixed.label_all(labels, only={0, 1, 2})
    image = Image.objects.get(project=fixed.project)
    assert image.status == "review" and image.extra_replicas == 0
    assert fixed.next_task(fixed.annotators[3]).status_code == 204


def test_settled_agreement_is_that_of_the_most_consistent_majority():
    from review.services.scoring import settled_agreement

    pairwise = {"1-2": 0.95, "1-3": 0.5, "2-3": 0.55, "1-4": 0.93, "2-4": 0.97, "3-4": 0.4}
    mean, group = settled_agreement(pairwise, 3)
    assert group == ("1", "2", "4") and mean == pytest.approx((0.95 + 0.93 + 0.97) / 3)
    assert settled_agreement({"1-2": 0.9}, 3) is None
    # A pair that drew nothing together counts 0.
    assert settled_agreement({"1-2": 0.9, "1-3": 0.9}, 3)[0] == pytest.approx(0.6)


def test_a_project_manager_sets_the_review_stage_settings_with_clear_errors():
    world = make_review_world(1)
    client = world.client(world.manager)
    url = f"/api/v1/projects/{world.project.pk}/"
    bad = client.patch(url, {"max_replicas": 2}, format="json")
    assert bad.status_code == 400 and "max_replicas" in bad.json()["errors"]
    assert client.patch(url, {"qualification_oks": 1.5}, format="json").status_code == 400
    good = client.patch(url, {"max_replicas": 5, "spot_check_share": 0.3, "qualification_images": 3,
                              "pause_loo_oks": 0.6, "pause_window": 10}, format="json")
    assert good.status_code == 200, good.content
    world.project.refresh_from_db()
    assert (world.project.max_replicas, world.project.replica_ceiling, world.project.pause_window) == (5, 5, 10)


def mirrored_pair(n, image_id):
    """Annotator 0 draws the person, annotator 1 mirrors it, annotator 2 sees nobody; a fourth draws it right."""
    return [[person(seed=1)], [person(seed=2, swapped=True)], [], [person(seed=4)]][n]


def test_an_undecided_orientation_gets_one_more_annotator_and_is_never_auto_accepted():
    world = make_review_world(1, auto_accept_oks=0.5, annotators=4, replicas=3, max_replicas=4)
    world.label_all(mirrored_pair, only={0, 1, 2})
    image, result = Image.objects.get(), ConsensusResult.objects.get()
    (obj,) = result.clusters
    assert obj["undecided"] and result.decision == "more_replicas"
    assert any("left and right of person 1 are undecided" in r for r in result.reasons)
    assert any("one more annotator (4 of at most 4)" in r for r in result.reasons)
    # The swap is flagged on one of the two, but nobody knows who: it does not block the extra replica.
    assert [f["code"] for f in result.flags].count("left_right_swap") >= 1
    assert image.status == "annotating" and not ReviewTask.objects.exists()

    world.label_all(mirrored_pair, only={3})  # a third opinion on the person settles its orientation
    result.refresh_from_db()
    (obj,) = result.clusters
    assert not obj["undecided"] and result.n_annotators == 4
    assert {f["annotator"] for f in result.flags if f["code"] == "left_right_swap"} == {world.annotators[1].pk}
    assert Image.objects.get().status == "review"  # now a known person's swap: a QA lead looks


def test_an_undecided_orientation_goes_to_review_with_the_reason_when_no_replica_is_left():
    world = make_review_world(1, auto_accept_oks=0.5, annotators=3, replicas=3)
    world.label_all(mirrored_pair, only={0, 1, 2})
    result = ConsensusResult.objects.get()
    assert result.clusters[0]["undecided"] and result.decision == "needs_review"
    assert Image.objects.get().status == "review"
    (task,) = ReviewTask.objects.all()
    assert any("left and right of person 1 are undecided" in r for r in task.reasons)
