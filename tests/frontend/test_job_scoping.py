"""Which background jobs a person sees: the dashboards' running-job bars and the jobs API they poll.

Their own jobs, and every job of a project they manage (organization admins and project managers,
through annotation.access.visible_jobs); nobody else's, and nothing of another organization.
"""

from __future__ import annotations

import pytest
from django.test import Client

from annotation.models import Membership, Organization, Project, Vendor
from jointly.jobs.models import JobRun
from models_registry.models import ModelVersion, PrelabelRun
from tests.annotation.factories import grant, make_user, unique
from tests.review.review_world import make_review_world

pytestmark = pytest.mark.django_db
Role = Membership.Role


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def job(func, *, by=None, state=JobRun.State.STARTED, **kwargs) -> JobRun:
    return JobRun.objects.create(queue="scoring", func=func, kwargs=kwargs, description=f"{func} {kwargs}",
                                 created_by=by, state=state, progress=0.25)


def sees(user, *jobs) -> list[bool]:
    """Per job: does the user's jobs API answer it, and does a dashboard list it (the two must agree)."""
    client = client_of(user)
    listed = client.get("/dashboard/annotators/").content.decode()
    out = []
    for run in jobs:
        api = client.get(f"/api/v1/jobs/{run.id}/").status_code
        assert api in (200, 404), api
        assert (api == 200) == (str(run.id) in listed), (user, run.description)
        out.append(api == 200)
    return out


@pytest.fixture
def jobs():
    world = make_review_world(1)
    project = world.project
    other_org = Organization.objects.create(name=unique("org"))
    elsewhere = Project.objects.create(organization=other_org, name=unique("project"), skeleton=project.skeleton)
    version = ModelVersion.objects.create(name=unique("model"), skeleton=project.skeleton)
    prelabel = job("models_registry.jobs.prelabel_project", by=make_user())
    PrelabelRun.objects.create(model_version=version, project=project, options={}, job=prelabel)
    colleague = make_user()
    grant(colleague, Role.PROJECT_MANAGER, organization=project.organization)
    admin = make_user()
    grant(admin, Role.ADMIN, organization=project.organization)
    outsider_manager = make_user()
    grant(outsider_manager, Role.PROJECT_MANAGER, organization=other_org)
    runs = {
        "rescore by the manager": job("review.jobs.score_project", by=world.manager, project_id=project.pk),
        "import by a colleague": job("annotation.jobs.import_coco_file", by=colleague, project_id=project.pk),
        "pre-label by a former manager": prelabel,
        "sigmas of another organization": job("review.jobs.propose_sigmas", by=outsider_manager,
                                              project_id=elsewhere.pk),
        "scoring of one image": job("review.jobs.score_image", image_id=world.images[0].pk),
    }
    return world, runs, {"colleague": colleague, "admin": admin, "outsider_manager": outsider_manager}


def test_project_and_organization_managers_see_every_job_of_their_projects(jobs):
    world, runs, people = jobs
    names = list(runs)
    expected = {
        # their own, their colleague's import and the pre-label run of their project; not another org's
        "manager": [True, True, True, False, False],
        "colleague": [True, True, True, False, False],
        "admin": [True, True, True, False, False],
    }
    users = {"manager": world.manager, "colleague": people["colleague"], "admin": people["admin"]}
    for who, user in users.items():
        assert dict(zip(names, sees(user, *runs.values()))) == dict(zip(names, expected[who])), who


def test_other_roles_and_other_organizations_see_only_their_own(jobs):
    world, runs, people = jobs
    names = list(runs)
    # Another organization's manager: their own job only, nothing of this organization.
    assert dict(zip(names, sees(people["outsider_manager"], *runs.values()))) == dict(
        zip(names, [False, False, False, True, False]))
    # QA leads, vendor managers and annotators manage no project: none of these jobs.
    for user in (world.qa_lead, world.vendor_manager, world.annotators[0], world.outsider_qa_lead):
        assert sees(user, *runs.values()) == [False] * len(runs), user
    # A QA lead who starts a rescore sees that one.
    own = job("review.jobs.score_project", by=world.qa_lead, project_id=world.project.pk)
    assert sees(world.qa_lead, own) == [True]
    # Staff see everything.
    staff = make_user(is_staff=True)
    assert sees(staff, *runs.values()) == [True] * len(runs)


def test_finished_jobs_answer_the_api_but_leave_the_running_list(jobs):
    world, runs, _ = jobs
    done = job("review.jobs.score_project", by=None, project_id=world.project.pk, state=JobRun.State.FINISHED)
    client = client_of(world.manager)
    assert client.get(f"/api/v1/jobs/{done.id}/").json()["state"] == "finished"
    assert str(done.id) not in client.get(f"/dashboard/projects/{world.project.pk}/").content.decode()


def test_a_vendor_of_another_organization_learns_nothing(jobs):
    world, runs, _ = jobs
    vendor_boss = make_user()
    grant(vendor_boss, Role.VENDOR_MANAGER, vendor=Vendor.objects.create(name=unique("vendor")))
    assert sees(vendor_boss, *runs.values()) == [False] * len(runs)


def test_a_project_dashboard_lists_that_projects_jobs_only(jobs):
    world, runs, _ = jobs
    sibling = Project.objects.create(organization=world.project.organization, name=unique("project"),
                                     skeleton=world.project.skeleton)
    theirs = job("review.jobs.score_project", by=world.manager, project_id=sibling.pk)
    page = client_of(world.manager).get(f"/dashboard/projects/{world.project.pk}/").content.decode()
    assert str(runs["rescore by the manager"].id) in page and str(runs["pre-label by a former manager"].id) in page
    assert str(theirs.id) not in page  # the manager may watch it, on the sibling's own dashboard
    assert str(theirs.id) in client_of(world.manager).get(f"/dashboard/projects/{sibling.pk}/").content.decode()
