"""The review workspace and dashboard pages without a browser: who may open them, what their numbers are,
and that the pages carry nothing beyond what the API gives their reader."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from jointly.jobs.models import JobRun
from review.services.scoring import score_images
from tests.annotation.factories import make_user
from tests.review.review_world import make_review_world, person

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def world():
    """Two images, three annotators, the second mirrored on the first image: one disputed, one accepted."""
    world = make_review_world(2)
    first = world.images[0].pk
    world.label_all(lambda n, image_id: [person(seed=10 * n + image_id, swapped=(n == 1 and image_id == first))])
    score_images(im.pk for im in world.images)
    return world


def test_project_dashboard_numbers_one_query_per_chart(world, django_assert_max_num_queries):
    client = client_of(world.manager)
    url = f"/dashboard/projects/{world.project.pk}/data/"
    client.get(url)  # the session and user rows are read once per request; count the rest
    # session + user + the access check + eight chart queries
    with django_assert_max_num_queries(11):
        data = client.get(url).json()
    assert data["status"] == {"review": 1, "accepted": 1}
    assert sum(data["histogram"]["counts"]) == 2 and len(data["histogram"]["edges"]) == 21
    assert data["outcomes"] == {"auto_accepted": 1, "needs_review": 1, "rework": 0}
    assert [r["tasks"] for r in data["queue_age"]] == [1, 0, 0, 0, 0]
    assert sum(r["n"] for r in data["daily"] if r["stage"] == "submitted") == 6
    assert sum(r["n"] for r in data["daily"] if r["stage"] == "scored") == 2
    assert data["keypoints"] is None  # no project report until a rescore


def test_review_and_dashboard_pages_answer_404_outside_their_readers(world):
    pid = world.project.pk
    pages = [f"/review/{pid}/", f"/dashboard/projects/{pid}/", f"/dashboard/projects/{pid}/data/"]
    for outsider in (world.annotators[0], world.outsider_qa_lead, world.vendor_manager):
        client = client_of(outsider)
        for page in pages:
            assert client.get(page).status_code == 404, (outsider, page)
    for reader in (world.qa_lead, world.manager):
        for page in pages:
            assert client_of(reader).get(page).status_code == 200, (reader, page)
    anonymous = Client().get(f"/review/{pid}/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    # The annotators' dashboard is everyone's own scope (the API decides); the timesheet link only for
    # vendors the reader runs.
    assert "timesheet" in client_of(world.vendor_manager).get("/dashboard/annotators/").content.decode()
    assert "timesheet" not in client_of(world.qa_lead).get("/dashboard/annotators/").content.decode()


def test_review_page_holds_no_labels_and_no_names(world):
    """The page is a shell: labels and annotators come from the review API, never from the HTML."""
    html = client_of(world.qa_lead).get(f"/review/{world.project.pk}/").content.decode()
    for annotator in world.annotators:
        assert annotator.username not in html
    assert '"instances"' not in html and "/api/v1/projects/%d/reviews/next/" % world.project.pk in html


def test_dashboards_list_only_the_readers_running_jobs(world):
    mine = JobRun.objects.create(queue="scoring", func="review.jobs.score_project", description="mine",
                                 created_by=world.manager, kwargs={"project_id": world.project.pk})
    theirs = JobRun.objects.create(queue="scoring", func="review.jobs.score_project", description="theirs",
                                   created_by=make_user())
    JobRun.objects.create(queue="scoring", func="review.jobs.score_project", description="old",
                          created_by=world.manager, state=JobRun.State.FINISHED)
    html = client_of(world.manager).get(f"/dashboard/projects/{world.project.pk}/").content.decode()
    assert str(mine.id) in html and str(theirs.id) not in html and '"old"' not in html


def test_plotly_is_served_from_the_installed_package_and_not_committed():
    path = finders.find("vendor/plotly.min.js")
    assert path and Path(path).is_file() and "site-packages" in path and Path(path).stat().st_size > 1_000_000
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert not [line for line in tracked.splitlines() if line.endswith(".min.js")]


def test_one_chart_per_request_and_an_unknown_chart_named(world):
    client = client_of(world.manager)
    url = f"/dashboard/projects/{world.project.pk}/data/"
    assert set(client.get(url, {"chart": "status"}).json()) == {"project", "status"}
    bad = client.get(url, {"chart": ["status", "pie"]})
    assert bad.status_code == 400 and "pie" in bad.json()["errors"]["chart"][0]
