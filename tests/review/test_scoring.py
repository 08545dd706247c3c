"""Scoring images: consensus, decisions, review tasks, idempotency, and the review API."""

import numpy as np
import pytest
from rest_framework.test import APIClient

from annotation.models import Annotation, Assignment, Image, Project
from review.models import ConsensusResult, ProjectAgreement, ReviewTask
from review.services.scoring import score_images

from .scoring_fixtures import make_scored_world

pytestmark = pytest.mark.django_db


def statuses(world):
    return list(Image.objects.filter(project=world.project).order_by("pk").values_list("status", flat=True))


def row_counts():
    return (Annotation.objects.count(), ConsensusResult.objects.count(), ReviewTask.objects.count())


def consensus_error_vs_annotators(world):
    """Mean keypoint error (px) of the stored consensus and of each annotator, against the simulated truth."""
    truth = world.sim.truth
    errors, annotator_errors = [], []
    for i, image in enumerate(world.images):
        consensus = Annotation.objects.get(image=image, source="consensus").instances
        true_rows = np.flatnonzero(truth.image == i)
        for inst in consensus:
            kp = np.asarray(inst["keypoints"]).reshape(-1, 3)
            labeled = kp[:, 2] > 0
            d = np.linalg.norm(truth.xy[true_rows] - kp[None, :, :2], axis=2)  # (T, K)
            best = true_rows[np.argmin(np.where(labeled, d, 0).sum(1))]
            errors.append(np.linalg.norm(truth.xy[best] - kp[:, :2], axis=1)[labeled].mean())
    batch = world.sim.batch
    for s in range(3):
        rows = np.flatnonzero(batch.source == s)
        own = world.sim.truth_of[rows]
        d = np.linalg.norm(batch.xy[rows] - truth.xy[own], axis=2)
        annotator_errors.append(d[batch.v[rows] > 0].mean())
    return float(np.mean(errors)), annotator_errors


def test_agreeing_replicas_are_auto_accepted_with_a_consensus_better_than_each_annotator():
    world = make_scored_world()
    summary = score_images(im.pk for im in world.images)
    assert summary == {"scored": 12, "auto_accepted": 12, "needs_review": 0}
    assert set(statuses(world)) == {"accepted"}
    assert not ReviewTask.objects.exists()
    truth_counts = np.bincount(world.sim.truth.image, minlength=12)
    stored = [len(Annotation.objects.get(image=im, source="consensus").instances) for im in world.images]
    assert stored == truth_counts.tolist()
    result = ConsensusResult.objects.get(image=world.images[0])
    assert result.agreement > 0.8 and result.n_annotators == 3
    assert len(result.keypoint_agreement) == 17
    assert set(result.annotator_scores["per_annotator"]) == {str(u.pk) for u in world.annotators}
    assert len(result.annotator_scores["pairwise"]) == 3
    consensus_error, annotator_errors = consensus_error_vs_annotators(world)
    assert consensus_error < min(annotator_errors)


def test_left_right_swap_sends_the_image_to_review_with_the_reason():
    world = make_scored_world()
    image = world.images[0]
    ann = Annotation.objects.get(image=image, annotator=world.annotators[1])
    instances = ann.instances
    kp = np.asarray(instances[0]["keypoints"]).reshape(17, 3)
    for left, right in [(5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)]:  # mirrored body
        kp[[left, right]] = kp[[right, left]]
    instances[0]["keypoints"] = kp.ravel().tolist()
    ann.instances = instances
    ann.save()
    score_images([image.pk])
    image.refresh_from_db()
    result = ConsensusResult.objects.get(image=image)
    assert image.status == "review" and result.decision == "needs_review"
    swaps = [f for f in result.flags if f["code"] == "left_right_swap"]
    assert swaps and {f["annotator"] for f in swaps} == {world.annotators[1].pk}
    assert any("left_right_swap" in reason for reason in result.reasons)
    task = ReviewTask.objects.get(image=image)
    assert task.state == "open" and task.reasons == result.reasons


def test_threshold_and_spot_check_sample_route_to_review():
    strict = make_scored_world(4, auto_accept_oks=0.999, seed=5)
    score_images(im.pk for im in strict.images)
    assert set(statuses(strict)) == {"review"}
    reasons = ConsensusResult.objects.get(image=strict.images[0]).reasons
    assert any("below the auto-accept threshold 1.00" in r for r in reasons)

    sampled = make_scored_world(4, review_sample_rate=1.0, seed=6)
    score_images(im.pk for im in sampled.images)
    assert set(statuses(sampled)) == {"review"}
    assert all("spot-check" in r.reasons[0] for r in ConsensusResult.objects.filter(project=sampled.project))


def test_an_object_drawn_by_one_annotator_only_misses_the_quorum():
    world = make_scored_world(1, people=(1, 1))
    ann = Annotation.objects.get(image=world.images[0], annotator=world.annotators[2])
    extra = {"bbox": [10.0, 10.0, 30.0, 60.0], "keypoints": [20.0, 20.0, 2] + [0.0, 0.0, 0] * 16}
    ann.instances = ann.instances + [extra]
    ann.save()
    score_images([world.images[0].pk])
    result = ConsensusResult.objects.get(image=world.images[0])
    assert result.decision == "needs_review"
    assert any("quorum" in r for r in result.reasons)
    assert len(Annotation.objects.get(image=world.images[0], source="consensus").instances) == 1


def test_a_single_replica_project_is_judged_by_flags_and_the_sample_not_by_agreement():
    world = make_scored_world(3, seed=15)
    Project.objects.filter(pk=world.project.pk).update(replicas=1)
    Annotation.objects.filter(image__in=world.images).exclude(annotator=world.annotators[0]).delete()
    Assignment.objects.filter(image__in=world.images).exclude(annotator=world.annotators[0]).delete()
    score_images(im.pk for im in world.images)
    assert set(statuses(world)) == {"accepted"}
    assert all(r.agreement is None for r in ConsensusResult.objects.filter(project=world.project))

    multi = make_scored_world(1, seed=16)  # replicas 3, but only one annotator drew the person
    Annotation.objects.filter(image=multi.images[0]).exclude(annotator=multi.annotators[0]).update(instances=[])
    score_images([multi.images[0].pk])
    reasons = ConsensusResult.objects.get(image=multi.images[0]).reasons
    assert any("quorum" in r for r in reasons)


def test_scoring_twice_changes_nothing_and_never_undoes_a_qa_decision():
    world = make_scored_world(6, auto_accept_oks=0.95, seed=8)
    score_images(im.pk for im in world.images)
    counts, before = row_counts(), statuses(world)
    versions = list(Annotation.objects.filter(source="consensus").order_by("pk").values_list("version", flat=True))
    reviewed = Image.objects.filter(project=world.project, status="review").first()
    Image.objects.filter(pk=reviewed.pk).update(status="accepted")  # a QA lead accepted it
    score_images(im.pk for im in world.images)
    assert row_counts() == counts
    after = statuses(world)
    assert after == [("accepted" if im.pk == reviewed.pk else s) for im, s in zip(world.images, before)]
    assert list(Annotation.objects.filter(source="consensus").order_by("pk").values_list("version", flat=True)) == versions


def test_consensus_api_is_for_quality_roles_and_blind_to_annotators():
    world = make_scored_world(2, seed=9)
    score_images(im.pk for im in world.images)
    image = world.images[0]
    client = APIClient()
    client.force_authenticate(world.qa_lead)
    body = client.get(f"/api/v1/images/{image.pk}/consensus/").json()
    assert body["decision"] == "auto_accepted" and body["status"] == "accepted"
    assert len(body["consensus"]["instances"]) == len(body["consensus"]["objects"])
    assert set(body["keypoint_agreement"]) >= {"nose", "left_ankle"}
    assert len(body["pairwise_oks"]) == 3
    client.force_authenticate(world.annotators[0])
    assert client.get(f"/api/v1/images/{image.pk}/consensus/").status_code == 404
    client.force_authenticate(None)
    assert client.get(f"/api/v1/images/{image.pk}/consensus/").status_code in (401, 403)


def test_project_agreement_report_is_computed_by_a_job_and_served():
    world = make_scored_world(10, seed=11)
    client = APIClient()
    client.force_authenticate(world.manager)
    url = f"/api/v1/projects/{world.project.pk}/agreement/"
    assert client.get(url).status_code == 404
    job = client.post(url).json()
    assert job["state"] == "finished", job
    report = client.get(url).json()
    assert report["images"] == 10 and report["images_scored"] == 10
    assert sum(report["histogram"]) == 10
    assert report["keypoints"]["name"][0] == "nose" and len(report["keypoints"]["agreement"]) == 17
    assert sorted(report["annotators"]["source"]) == sorted(u.pk for u in world.annotators)
    assert all(0 < oks <= 1 for oks in report["annotators"]["oks"])
    assert ProjectAgreement.objects.get(project=world.project).n_images == 10
    client.force_authenticate(world.annotators[0])
    assert client.get(url).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_scores_an_image(run_worker):
    from jointly.jobs.services import enqueue

    world = make_scored_world(1, seed=13)
    enqueue("scoring", "review.jobs.score_image", image_id=world.images[0].pk)
    result = run_worker("scoring")
    assert result.returncode == 0, result.stderr[-2000:]
    assert ConsensusResult.objects.get(image=world.images[0]).decision == "auto_accepted"
    assert Image.objects.get(pk=world.images[0].pk).status == "accepted"


def _people(image, world):
    return {a.annotator_id: a for a in Annotation.objects.filter(image=image, source="annotator")}


def test_the_three_annotator_example_follows_the_annotator_with_the_better_history():
    """One annotator labels nobody, one is right, one mirrors the person, in a project whose
    history (the last project report) shows that the third one mirrors people often."""
    from review.services.scoring import score_project

    world = make_scored_world(30, seed=21, people=(1, 1), swap_rate=(0, 0, 0.3), mirror_fraction=1.0)
    score_project(world.project)
    report = ProjectAgreement.objects.get(project=world.project).report
    rates = dict(zip(report["annotators"]["source"], report["annotators"]["swap_rate"]))
    nobody, right, swapper = world.annotators
    assert rates[swapper.pk] > 0.1 > rates[right.pk]

    image = world.images[0]
    anns = _people(image, world)
    kp = np.asarray(anns[right.pk].instances[0]["keypoints"], dtype=float).reshape(17, 3)
    from review.agreement import COCO_PERSON
    mirrored = kp[COCO_PERSON.flip_permutation].copy()
    mirrored[:, :2] += 0.7  # a click of its own
    anns[swapper.pk].instances = [{"bbox": anns[right.pk].instances[0]["bbox"], "keypoints": mirrored.ravel().tolist()}]
    anns[swapper.pk].save()
    anns[nobody.pk].instances = []
    anns[nobody.pk].save()
    Image.objects.filter(pk=image.pk).update(status="scoring")
    score_images([image.pk])

    result = ConsensusResult.objects.get(image=image)
    assert result.decision == "needs_review" and Image.objects.get(pk=image.pk).status == "review"
    (obj,) = result.clusters
    assert obj["undecided"] and obj["missed_by"] == [nobody.pk] and obj["orientation_from"] == [right.pk]
    assert any(f"not drawn by annotator(s) {nobody.pk}" in r for r in result.reasons)
    assert any("undecided" in r and str(right.pk) in r for r in result.reasons)
    assert {f["annotator"] for f in result.flags if f["code"] == "left_right_swap"} == {swapper.pk}
    consensus = np.asarray(Annotation.objects.get(image=image, source="consensus").instances[0]["keypoints"])
    consensus = consensus.reshape(17, 3)
    labeled = kp[:, 2] > 0
    assert np.abs(consensus[labeled, :2] - kp[labeled, :2]).max() < 2.0  # the right skeleton, not the midpoint

    client = APIClient()
    client.force_authenticate(world.qa_lead)
    body = client.get(f"/api/v1/images/{image.pk}/consensus/").json()
    assert body["consensus"]["objects"][0]["undecided"] is True
    assert body["people"][str(swapper.pk)] == swapper.username
    report = client.get(f"/api/v1/projects/{world.project.pk}/agreement/").json()
    assert set(report["people"]) == {str(u.pk) for u in world.annotators} and "history" not in report

    # a third opinion settles the orientation: no longer undecided, nobody missed the person
    anns[nobody.pk].instances = anns[right.pk].instances
    anns[nobody.pk].save()
    Image.objects.filter(pk=image.pk).update(status="scoring")
    score_images([image.pk])
    result = ConsensusResult.objects.get(image=image)
    (obj,) = result.clusters
    assert not obj["undecided"] and obj["missed_by"] == []
    assert not any("undecided" in r or "not drawn" in r for r in result.reasons)
    assert {f["annotator"] for f in result.flags if f["code"] == "left_right_swap"} == {swapper.pk}


def test_usernames_only_for_roles_that_may_see_them():
    from annotation.models import Membership, Vendor
    from django.contrib.auth import get_user_model

    world = make_scored_world(2, seed=22)
    score_images(im.pk for im in world.images)
    other_vendor = Vendor.objects.create(name="elsewhere")
    world.project.vendors.add(other_vendor)
    outsider_qa = get_user_model().objects.create_user("qa-elsewhere")
    Membership.objects.create(user=outsider_qa, role=Membership.Role.QA_LEAD, vendor=other_vendor)
    client = APIClient()
    client.force_authenticate(outsider_qa)
    body = client.get(f"/api/v1/images/{world.images[0].pk}/consensus/").json()
    # Another vendor's QA lead: neither the names nor the ids and scores of people not theirs (issue 12, finding 4).
    assert body["annotators"] == {} and body["people"] == {}
    client.force_authenticate(world.qa_lead)
    body = client.get(f"/api/v1/images/{world.images[0].pk}/consensus/").json()
    assert body["people"] == {str(u.pk): u.username for u in world.annotators}


def test_the_report_says_when_annotator_offsets_were_subtracted(settings):
    from review.services.scoring import score_project

    world = make_scored_world(6, seed=23)
    assert score_project(world.project).report["offsets_subtracted"] is False
    settings.SUBTRACT_ANNOTATOR_OFFSETS = True
    report = score_project(world.project).report
    assert report["offsets_subtracted"] is True
    assert len(report["annotators"]["noise_var"]) == 3 and len(report["annotators"]["noise_var"][0]) == 17


def test_an_image_everyone_left_empty_is_scored_not_crashed():
    world = make_scored_world(2, seed=21)
    Annotation.objects.filter(image__in=world.images).update(instances=[])
    summary = score_images(im.pk for im in world.images)
    assert summary["scored"] == 2
    for image in world.images:
        consensus = Annotation.objects.get(image=image, source="consensus")
        assert consensus.instances == []
