"""The review stage end to end, through the API only, with a real `rqworker --burst` scoring.

Three annotators label two images; one of them mirrors left and right on
one image. That image must reach a QA lead flagged as a swap on that
annotator, the other is auto-accepted; the QA lead rejects with a pinned
comment, the annotator sees it on their next task, resubmits, the image is
scored again and accepted, and export-coco holds exactly the accepted labels.
"""

import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from annotation.models import Annotation, Image
from review.models import ReviewDecision, ReviewTask

from .review_world import make_review_world, person

pytestmark = pytest.mark.django_db(transaction=True)


def export(world, tmp_path):
    response = world.client(world.manager).get(f"/api/v1/projects/{world.project.pk}/export-coco/")
    assert response.status_code == 200
    path = tmp_path / "gt.json"
    path.write_bytes(b"".join(response.streaming_content))
    return COCO(str(path))


def test_swap_reaches_review_then_reject_rework_rescore_accept_and_export(run_worker, tmp_path):
    world = make_review_world(2)
    swapped_image = world.images[0].pk
    swapper = world.annotators[1]

    def labels(n, image_id):
        return [person(seed=10 * n + image_id, swapped=(n == 1 and image_id == swapped_image))]

    world.label_all(labels)
    assert run_worker("scoring").returncode == 0
    statuses = dict(Image.objects.filter(project=world.project).values_list("pk", "status"))
    assert statuses == {swapped_image: "review", world.images[1].pk: "accepted"}

    # Blind and tenant-bound: annotators and another organization's QA lead get 404 everywhere.
    for outsider in (world.annotators[0], world.outsider_qa_lead):
        assert world.review_next(outsider).status_code == 404
    task = ReviewTask.objects.get(image_id=swapped_image)
    for outsider in (world.annotators[0], world.outsider_qa_lead):
        client = world.client(outsider)
        assert client.get(f"/api/v1/reviews/{task.pk}/").status_code == 404
        assert client.post(f"/api/v1/reviews/{task.pk}/decide/", {"action": "accept_consensus", "version": 1},
                           format="json").status_code == 404
        assert client.get(f"/api/v1/images/{swapped_image}/history/").status_code == 404

    response = world.review_next()
    assert response.status_code == 201
    picture = response.json()
    assert picture["task"]["id"] == task.pk and picture["image"]["id"] == swapped_image
    swaps = [f for f in picture["flags"] if f["code"] == "left_right_swap"]
    assert swaps and {f["annotator"] for f in swaps} == {swapper.pk}
    assert all(f["instance"] == 0 and f["keypoint"] for f in swaps)
    named = {a["annotator"]["id"]: a for a in picture["annotators"]}
    assert set(named) == {u.pk for u in world.annotators}
    assert named[swapper.pk]["annotator"]["username"] == swapper.username
    assert named[swapper.pk]["flags"] and not named[world.annotators[0].pk]["flags"]
    assert len(picture["pairwise_oks"]) == 3 and len(picture["keypoint_agreement"]) == 17
    assert set(picture["consensus"]["objects"][0]["spread_sigmas"]) >= {"nose", "left_shoulder"}
    assert [e["event"] for e in picture["history"]].count("submitted") == 3
    # Asking again returns the lease one holds.
    assert world.review_next().json()["task"]["id"] == task.pk

    comment = {"annotator": swapper.pk, "instance": 0, "keypoint": "left_shoulder", "x": 340.0, "y": 150.0,
               "text": "This is the person's left shoulder: left and right are from the person's view."}
    stale = world.decide(task.pk, {"action": "reject", "version": picture["version"] + 1, "comments": [comment]})
    assert stale.status_code == 409 and stale.json()["version"] == picture["version"]
    decided = world.decide(task.pk, {"action": "reject", "version": picture["version"], "comments": [comment]})
    assert decided.status_code == 200, decided.content
    assert decided.json()["image_status"] == "rework"

    # The swapper's next task is that image again, with the comment and their own labels as the draft.
    rework = world.next_task(swapper)
    assert rework.status_code == 201
    body = rework.json()
    assert body["image"]["id"] == swapped_image
    assert body["review_comments"] == [{
        "instance": 0, "keypoint": 5, "x": 340.0, "y": 150.0, "text": comment["text"],
        "author": world.qa_lead.username,
    }]
    assert len(body["draft"]["instances"]) == 1
    # The others have nothing left; the image is not served to them again.
    assert world.next_task(world.annotators[0]).status_code == 204
    fixed = world.submit(swapper, body["id"], [person(seed=999)])
    assert fixed.status_code in (200, 201), fixed.content
    assert Image.objects.get(pk=swapped_image).status == "scoring"
    assert run_worker("scoring").returncode == 0
    assert Image.objects.get(pk=swapped_image).status == "accepted"

    history = world.client(world.qa_lead).get(f"/api/v1/images/{swapped_image}/history/").json()["events"]
    kinds = [e["event"] for e in history]
    assert kinds.index("review_task") < kinds.index("decision:reject") < max(
        i for i, k in enumerate(kinds) if k == "submitted")
    # Every score round is kept, in order: the swap sent it to review, the rework was accepted.
    rounds = [e for e in history if e["event"] == "scored"]
    assert [r["decision"] for r in rounds] == ["needs_review", "auto_accepted"]
    assert kinds.index("scored") < kinds.index("review_task") < kinds.index("decision:reject")
    assert kinds.index("decision:reject") < len(kinds) - 1 - kinds[::-1].index("scored")
    assert rounds[0]["flags"]["left_right_swap"] >= 1 and rounds[0]["inputs"] != rounds[1]["inputs"]
    reject = next(e for e in history if e["event"] == "decision:reject")
    assert reject["state_before"]["returned_labels"][str(swapper.pk)][0]["keypoints"] == labels(1, swapped_image)[0]["keypoints"]

    coco = export(world, tmp_path)
    assert sorted(coco.getImgIds()) == sorted(im.pk for im in world.images)
    for image in world.images:
        final = Annotation.objects.get(image=image, source="consensus").instances
        exported = coco.loadAnns(coco.getAnnIds(imgIds=[image.pk]))
        assert [a["keypoints"] for a in exported] == [inst["keypoints"] for inst in final]
    # Mirrored labels never made it into the ground truth: the left shoulder is on the image's right.
    kp = np.asarray(coco.loadAnns(coco.getAnnIds(imgIds=[swapped_image]))[0]["keypoints"]).reshape(17, 3)
    assert kp[5, 0] > kp[6, 0]


def test_decisions_accept_edit_and_export_the_one_final_annotation(tmp_path):
    from review.services.scoring import score_images

    world = make_review_world(3, auto_accept_oks=0.999)

    def labels(n, image_id):
        return [person(seed=10 * n + image_id, noise=3.0)]

    world.label_all(labels)
    score_images(im.pk for im in world.images)  # in-process here; the worker test covers the queue
    assert set(Image.objects.filter(project=world.project).values_list("status", flat=True)) == {"review"}
    tasks = {}
    for _ in world.images:
        picture = world.review_next().json()
        tasks[picture["image"]["id"]] = picture
        # Decide before leasing the next one: a QA lead holds one task per project.
        image_id = picture["image"]["id"]
        if image_id == world.images[0].pk:
            body = {"action": "accept_consensus", "version": picture["version"]}
        elif image_id == world.images[1].pk:
            body = {"action": "accept_annotation", "version": picture["version"], "annotator": world.annotators[2].pk}
        else:
            bad = world.decide(picture["task"]["id"], {"action": "edit", "version": picture["version"],
                                                       "instances": [{"bbox": [0, 0, 10, 10], "keypoints": [1, 2, 2]}]})
            assert bad.status_code == 400 and "instances" in bad.json()["errors"]
            body = {"action": "edit", "version": picture["version"], "instances": [person(seed=5, noise=0.0)]}
        response = world.decide(picture["task"]["id"], body)
        assert response.status_code == 200, response.content
        again = world.decide(picture["task"]["id"], body)
        assert again.status_code == 409 and again.json()["version"] == picture["version"] + 1
    assert world.review_next().status_code == 204
    assert set(Image.objects.filter(project=world.project).values_list("status", flat=True)) == {"accepted"}

    expected = {
        world.images[0].pk: Annotation.objects.get(image=world.images[0], source="consensus").instances,
        world.images[1].pk: Annotation.objects.get(image=world.images[1], annotator=world.annotators[2]).instances,
        world.images[2].pk: [person(seed=5, noise=0.0)],
    }
    # A rescore (thresholds changed) rewrites the consensus but never the human decision.
    world.project.auto_accept_oks = 0.5
    world.project.save()
    Annotation.objects.filter(image=world.images[0], source="consensus").update(instances=[])
    score_images(im.pk for im in world.images)
    assert set(Image.objects.filter(project=world.project).values_list("status", flat=True)) == {"accepted"}
    coco = export(world, tmp_path)
    for image_id, instances in expected.items():
        exported = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
        assert [a["keypoints"] for a in exported] == [i["keypoints"] for i in instances]
    assert ReviewDecision.objects.filter(project=world.project).count() == 3
    assert Annotation.objects.filter(image__project=world.project, source="review").count() == 3


def test_reject_with_bad_comments_changes_nothing():
    from review.services.scoring import score_images

    world = make_review_world(1, auto_accept_oks=0.999)
    world.label_all(lambda n, image_id: [person(seed=n)])
    score_images([world.images[0].pk])
    picture = world.review_next().json()
    cases = [
        ({"comments": []}, "comments"),
        ({"comments": [{"annotator": world.annotators[0].pk, "instance": 3, "keypoint": 0, "text": "x"}]}, "comments"),
        ({"comments": [{"annotator": world.annotators[0].pk, "instance": 0, "keypoint": "tail", "text": "x"}]}, "comments"),
        ({"comments": [{"annotator": world.annotators[0].pk, "instance": 0, "keypoint": 0, "x": 9999, "y": 1,
                        "text": "x"}]}, "comments"),
        ({"comments": [{"annotator": world.qa_lead.pk, "instance": 0, "keypoint": 0, "text": "x"}]}, "comments"),
        ({"comments": [{"instance": 0, "keypoint": 0, "text": "x"}], "annotators": [world.qa_lead.pk]}, "annotators"),
    ]
    for extra, field in cases:
        response = world.decide(picture["task"]["id"], {"action": "reject", "version": picture["version"], **extra})
        assert response.status_code == 400, (extra, response.content)
        assert field in response.json()["errors"], response.json()
    assert Image.objects.get(pk=world.images[0].pk).status == "review"
    assert not ReviewDecision.objects.exists()
    assert ReviewTask.objects.get().version == picture["version"]
