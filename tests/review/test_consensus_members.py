"""Which annotator instance joined which consensus object: the consensus API and the review detail say it
(the workspace draws the spread ellipses from it instead of guessing in the browser)."""

import pytest

from review.services.scoring import score_images

from .review_world import make_review_world, person

pytestmark = pytest.mark.django_db
LEFT, RIGHT = (-120.0, 0.0), (120.0, 0.0)
SWAPPER, REVERSED = 1, 2


def two_people(n, image_id):
    """Two people per image: annotator 2 mirrors both, annotator 3 draws them in the other order."""
    people = [person(seed=10 * n + image_id, shift=LEFT, swapped=(n == SWAPPER)),
              person(seed=10 * n + image_id + 5, shift=RIGHT, swapped=(n == SWAPPER))]
    return people[::-1] if n == REVERSED else people


def test_consensus_objects_name_their_members_in_the_api_and_the_review_detail():
    world = make_review_world(1, auto_accept_oks=0.999)
    world.label_all(two_people)
    score_images(im.pk for im in world.images)
    image = world.images[0]
    body = world.client(world.qa_lead).get(f"/api/v1/images/{image.pk}/consensus/").json()
    consensus = body["consensus"]
    accepted = [o for o in consensus["objects"] if o["accepted"]]
    assert len(accepted) == len(consensus["instances"]) == 2
    ids = [u.pk for u in world.annotators]
    # Which consensus instance is the left person: the one with the smaller nose x.
    left = min(range(2), key=lambda i: consensus["instances"][i]["keypoints"][0])
    for obj, is_left in ((accepted[left], True), (accepted[1 - left], False)):
        members = sorted((m["annotator"], m["instance"], m["flipped"]) for m in obj["members"])
        expected = sorted([
            (ids[0], 0 if is_left else 1, False),
            (ids[SWAPPER], 0 if is_left else 1, True),  # mirrored: it joined, flipped
            (ids[REVERSED], 1 if is_left else 0, False),  # drew the right person first
        ])
        assert members == expected

    # The review detail says the same.
    task = world.review_next().json()
    assert task["image"]["id"] == image.pk
    detail = [o["members"] for o in task["consensus"]["objects"] if o["accepted"]]
    assert detail == [o["members"] for o in accepted]


def test_members_leave_out_annotators_the_caller_may_not_see():
    from annotation.models import Membership, Vendor
    from tests.annotation.factories import grant, make_annotator, make_user, unique

    world = make_review_world(1, annotators=2, auto_accept_oks=0.999)
    other = Vendor.objects.create(name=unique("vendor"))
    world.project.vendors.add(other)
    world.annotators.append(make_annotator(world.project, other))
    world.label_all(lambda n, image_id: [person(seed=10 * n + image_id)])
    score_images(im.pk for im in world.images)
    vendor_qa = make_user()
    grant(vendor_qa, Membership.Role.QA_LEAD, vendor=world.vendor)
    url = f"/api/v1/images/{world.images[0].pk}/consensus/"
    everyone = world.client(world.qa_lead).get(url).json()["consensus"]["objects"][0]["members"]
    assert sorted(m["annotator"] for m in everyone) == sorted(u.pk for u in world.annotators)
    theirs = world.client(vendor_qa).get(url).json()["consensus"]["objects"][0]["members"]
    assert sorted(m["annotator"] for m in theirs) == sorted(u.pk for u in world.annotators[:2])
