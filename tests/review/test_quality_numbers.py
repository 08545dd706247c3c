"""Annotator quality numbers in /api/v1/workforce/stats/: what each role sees."""

import pytest

from annotation.models import Vendor
from review.services.scoring import score_project
from tests.annotation.factories import make_annotator, unique

from .review_world import make_review_world, person

pytestmark = pytest.mark.django_db


def test_quality_numbers_per_annotator_and_project_and_the_vendor_manager_sees_only_own_people():
    world = make_review_world(3, annotators=3, auto_accept_oks=0.9)
    other_vendor = Vendor.objects.create(name=unique("vendor"))
    world.project.vendors.add(other_vendor)
    outsider = make_annotator(world.project, other_vendor)  # labels nothing yet; staffed by another vendor
    swapper = world.annotators[2]
    first = world.images[0].pk
    world.label_all(lambda n, i: [person(seed=10 * n + i, swapped=(n == 2 and i == first))])
    picture = next(p for p in (world.review_next().json(),) if p)
    world.decide(picture["task"]["id"], {
        "action": "reject", "version": picture["version"],
        "comments": [{"annotator": swapper.pk, "instance": 0, "keypoint": "left_shoulder", "text": "Mirrored."}],
    })
    score_project(world.project)  # the project report (per-keypoint bias findings need one)

    manager_view = world.client(world.manager).get("/api/v1/workforce/stats/").json()["quality"]
    rows = {r["annotator"]["id"]: r for r in manager_view if r["project"]["id"] == world.project.pk}
    assert set(rows) == {u.pk for u in world.annotators}
    good = rows[world.annotators[0].pk]
    assert good["images"] == 3 and good["scored_images"] >= 2 and good["loo_oks"] > 0.8
    assert good["rejection_rate"] == 0 and good["gold_oks"] is None
    bad = rows[swapper.pk]
    assert bad["rejection_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert bad["flags_per_100_images"] > good["flags_per_100_images"]
    assert 0 < bad["median_active_seconds_per_image"] <= 20.0  # credited: capped by the lease's wall time
    assert isinstance(bad["keypoint_bias"], list)

    vendor_view = world.client(world.vendor_manager).get("/api/v1/workforce/stats/").json()["quality"]
    assert {r["annotator"]["id"] for r in vendor_view} == {u.pk for u in world.annotators}
    # Another vendor's manager sees none of them.
    other_manager = make_annotator(world.project, other_vendor)
    from annotation.models import Membership
    Membership.objects.create(user=other_manager, role="vendor_manager", vendor=other_vendor)
    seen = world.client(other_manager).get("/api/v1/workforce/stats/").json()["quality"]
    assert not {r["annotator"]["id"] for r in seen} & {u.pk for u in world.annotators}
    # An annotator sees only their own row.
    own = world.client(swapper).get("/api/v1/workforce/stats/").json()["quality"]
    assert [r["annotator"]["id"] for r in own] == [swapper.pk]
    assert outsider.pk not in rows


def test_the_admin_shows_quality_read_only(admin_client):
    world = make_review_world(2, annotators=3, auto_accept_oks=0.5)
    world.label_all(lambda n, i: [person(seed=10 * n + i)])
    page = admin_client.get("/admin/review/annotatorquality/")
    assert page.status_code == 200
    assert page.content.count(b"field-loo_oks") >= 3 and b"0.9" in page.content
    row = world.annotators[0].staffing.get()
    detail = admin_client.get(f"/admin/review/annotatorquality/{row.pk}/change/")
    assert detail.status_code == 200 and b'name="qualification"' not in detail.content
