"""The review queue's order and leases, concurrent decisions, rework to new annotators, the audit trail."""

import threading
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from annotation.models import Assignment, Image
from review.models import AuditTrailIsAppendOnly, ReviewDecision, ReviewTask, ScoreRound
from review.services.queue import next_review
from review.services.scoring import score_images

from .review_world import client_of, make_review_world, person

pytestmark = pytest.mark.django_db


def reviewed_world(n_images=4, **fields):
    world = make_review_world(n_images, auto_accept_oks=0.999, **fields)
    world.label_all(lambda n, image_id: [person(seed=10 * n + image_id, noise=1.0 + image_id % 5)])
    score_images(im.pk for im in world.images)
    return world


def test_queue_order_rework_first_then_lowest_agreement_with_spot_checks_interleaved():
    world = reviewed_world(5)
    tasks = list(ReviewTask.objects.filter(project=world.project).order_by("pk"))
    for task, (kind, agreement) in zip(tasks, [("review", 0.7), ("review", 0.5), ("spot_check", 0.95),
                                                ("rework", 0.9), ("review", None)]):
        ReviewTask.objects.filter(pk=task.pk).update(kind=kind, agreement=agreement)
    order = []
    for draw in (0.9, 0.9, 0.9, 0.9, 0.9):  # never under spot_check_share (0.2): disputed before spot checks
        task, created = next_review(world.qa_lead, world.project, rng=lambda: draw)
        assert created
        order.append(task.pk)
        ReviewTask.objects.filter(pk=task.pk).update(state="done")
    assert order == [tasks[3].pk, tasks[4].pk, tasks[1].pk, tasks[0].pk, tasks[2].pk]

    ReviewTask.objects.filter(project=world.project).update(state="open", leased_by=None, lease_expires_at=None)
    ReviewTask.objects.filter(pk=tasks[3].pk).update(state="done")
    task, _ = next_review(world.qa_lead, world.project, rng=lambda: 0.1)  # the interleaving draw
    assert task.pk == tasks[2].pk


def test_leases_give_two_qa_leads_different_tasks_and_expire_renew_and_release():
    world = reviewed_world(2)
    second = world.manager  # a project manager may work the queue too
    a = world.review_next().json()["task"]
    b = world.review_next(second).json()["task"]
    assert a["id"] != b["id"]
    assert world.review_next(world.outsider_qa_lead).status_code == 404
    # Nothing left for a third while both leases run.
    third = world.review_next(world.annotators[0])
    assert third.status_code == 404  # an annotator is not a reviewer at all
    renewed = client_of(world.qa_lead).post(f"/api/v1/reviews/{a['id']}/renew/")
    assert renewed.status_code == 200
    refused = client_of(second).post(f"/api/v1/reviews/{a['id']}/release/")
    assert refused.status_code == 409 and refused.json()["version"] == a["version"]
    taken = client_of(second).post(f"/api/v1/reviews/{a['id']}/decide/",
                                   {"action": "accept_consensus", "version": a["version"]}, format="json")
    assert taken.status_code == 409
    assert client_of(world.qa_lead).post(f"/api/v1/reviews/{a['id']}/release/").status_code == 200
    assert ReviewTask.objects.get(pk=a["id"]).leased_by_id is None
    # An expired lease goes to whoever asks next.
    ReviewTask.objects.filter(pk=b["id"]).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    ReviewTask.objects.filter(pk=a["id"]).update(state="done")
    assert world.review_next().json()["task"]["id"] == b["id"]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_decisions_give_one_success_and_one_409():
    world = reviewed_world(1)
    task = ReviewTask.objects.get()
    barrier = threading.Barrier(2)
    codes = []

    def decide(user, body):
        client = client_of(user)
        barrier.wait()
        try:
            codes.append(client.post(f"/api/v1/reviews/{task.pk}/decide/", body, format="json"))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=(world.qa_lead, {"action": "accept_consensus", "version": task.version})),
        threading.Thread(target=decide, args=(world.manager, {
            "action": "accept_annotation", "version": task.version, "annotator": world.annotators[0].pk})),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in codes) == [200, 409]
    loser = next(r for r in codes if r.status_code == 409)
    assert loser.json()["version"] == task.version + 1
    assert ReviewDecision.objects.count() == 1
    assert Image.objects.get().status == "accepted"


def test_a_rescore_landing_during_review_bumps_the_version_and_the_old_one_is_refused():
    world = reviewed_world(1)
    picture = world.review_next().json()
    world.project.auto_accept_oks = 0.9999
    world.project.save()
    score_images([world.images[0].pk])  # same inputs, same reasons: nothing changes
    assert ReviewTask.objects.get().version == picture["version"]
    ann = world.annotators[0].annotations.get()
    ann.instances = [person(seed=77, noise=6.0)]
    ann.save()
    score_images([world.images[0].pk])
    assert ReviewTask.objects.get().version == picture["version"] + 1
    stale = world.decide(picture["task"]["id"], {"action": "accept_consensus", "version": picture["version"]})
    assert stale.status_code == 409 and stale.json()["version"] == picture["version"] + 1


def test_reject_with_reassign_sends_the_image_to_a_new_annotator_and_sets_the_old_labels_aside():
    from tests.annotation.factories import make_annotator

    world = reviewed_world(1)
    newcomer = make_annotator(world.project, world.vendor)
    picture = world.review_next().json()
    sloppy = world.annotators[2]
    response = world.decide(picture["task"]["id"], {
        "action": "reject", "version": picture["version"], "reassign": True,
        "comments": [{"annotator": sloppy.pk, "instance": 0, "keypoint": "nose", "text": "Far off.", "x": 320, "y": 99},
                     {"text": "Check the wrists on this image."}],
    })
    assert response.status_code == 200 and response.json()["image_status"] == "annotating"
    assert Assignment.objects.get(annotator=sloppy).state == "rejected"
    assert world.next_task(sloppy).status_code == 204
    assert world.next_task(world.annotators[0]).status_code == 204
    task = world.next_task(newcomer).json()
    # The QA lead's comments reach the new annotator, pinned to a keypoint and a point; nothing says whose
    # labels were set aside (blind), and the instance numbers of labels they never see are dropped.
    author = world.qa_lead.get_username()
    assert task["image"]["id"] == world.images[0].pk and task["review_comments"] == [
        {"instance": None, "keypoint": 0, "x": 320.0, "y": 99.0, "text": "Far off.", "author": author},
        {"instance": None, "keypoint": None, "x": None, "y": None, "text": "Check the wrists on this image.",
         "author": author},
    ]
    assert sloppy.get_username() not in str(task) and all("annotator" not in c for c in task["review_comments"])
    world.project.auto_accept_oks = 0.5
    world.project.save()
    world.submit(newcomer, task["id"], [person(seed=4)])  # the last replica: scored in-process here
    result = world.images[0].consensus_result
    result.refresh_from_db()
    assert result.n_annotators == 3
    assert str(sloppy.pk) not in result.annotator_scores["per_annotator"]
    assert str(newcomer.pk) in result.annotator_scores["per_annotator"]
    assert Image.objects.get().status == "accepted"


def test_the_audit_trail_has_no_update_or_delete_path(admin_client):
    world = reviewed_world(1)
    picture = world.review_next().json()
    world.decide(picture["task"]["id"], {"action": "accept_consensus", "version": picture["version"]})
    decision = ReviewDecision.objects.get()
    decision.action = "edit"
    with pytest.raises(AuditTrailIsAppendOnly):
        decision.save()
    with pytest.raises(AuditTrailIsAppendOnly):
        decision.delete()
    with pytest.raises(AuditTrailIsAppendOnly):
        ReviewDecision.objects.filter(pk=decision.pk).update(action="edit")
    with pytest.raises(AuditTrailIsAppendOnly):
        ReviewDecision.objects.filter(pk=decision.pk).delete()
    for sql in ("UPDATE review_reviewdecision SET action = 'edit'", "DELETE FROM review_reviewdecision"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    with pytest.raises(Exception):
        Image.objects.filter(pk=world.images[0].pk).delete()  # protected: its decisions must stay
    assert ReviewDecision.objects.get().action == "accept_consensus"
    score_round = ScoreRound.objects.get()  # score rounds are never rewritten either
    score_round.decision = "auto_accepted"
    with pytest.raises(AuditTrailIsAppendOnly):
        score_round.save()
    with pytest.raises(AuditTrailIsAppendOnly):
        ScoreRound.objects.update(decision="auto_accepted")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE review_scoreround SET decision = 'auto_accepted'")
    assert ScoreRound.objects.values_list("decision", flat=True).get() == "needs_review"
    url = f"/admin/review/reviewdecision/{decision.pk}/"
    page = admin_client.get(url + "change/")
    assert page.status_code == 200 and b'name="action"' not in page.content
    assert admin_client.post(url + "delete/").status_code == 403
    assert admin_client.post("/admin/review/reviewdecision/", {
        "action": "delete_selected", "_selected_action": [decision.pk]}).status_code in (200, 302)
    assert ReviewDecision.objects.filter(pk=decision.pk).exists()


def test_an_overdue_rework_lease_stays_reserved_for_its_annotator():
    from annotation.engine import expire_overdue_leases

    world = reviewed_world(1)
    picture = world.review_next().json()
    chosen = world.annotators[1]
    world.decide(picture["task"]["id"], {"action": "reject", "version": picture["version"], "comments": [
        {"annotator": chosen.pk, "instance": 0, "keypoint": 0, "text": "Nose is lower."}]})
    lease = world.next_task(chosen).json()
    Assignment.objects.filter(pk=lease["id"]).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    Image.objects.filter(pk=world.images[0].pk).update(next_lease_expiry=timezone.now() - timedelta(seconds=1))
    assert expire_overdue_leases() == 1
    assert Assignment.objects.get(pk=lease["id"]).state == "rework"
    again = world.next_task(chosen).json()
    assert again["id"] == lease["id"] and again["review_comments"][0]["text"] == "Nose is lower."
