"""Admin action: estimate sigmas from a project's redundant labels as a new skeleton version."""

import pytest
from django.test import Client

from annotation.models import Skeleton
from jointly.domain_errors import Invalid
from jointly.jobs.models import JobRun
from review.agreement.skeleton import COCO_SIGMAS
from review.services.sigmas import propose_sigmas

from .scoring_fixtures import make_scored_world

pytestmark = pytest.mark.django_db


def test_learned_sigmas_become_a_new_version_and_the_project_keeps_its_skeleton():
    # Simulated with COCO's own sigmas (noise=1 means COCO-like annotators).
    world = make_scored_world(150, noise=1.0, people=(1, 2), seed=21)
    old = world.project.skeleton
    skeleton, changes = propose_sigmas(world.project)
    assert (skeleton.name, skeleton.version, skeleton.previous_id) == (old.name, 2, old.pk)
    learned = list(skeleton.keypoints.values_list("sigma", flat=True))
    assert all(abs(s - t) / t < 0.25 for s, t in zip(learned, COCO_SIGMAS))  # 150 images: a coarse check
    assert learned != list(old.keypoints.values_list("sigma", flat=True))
    assert len(changes) == 17 and "->" in changes[0]
    world.project.refresh_from_db()
    assert world.project.skeleton_id == old.pk


def test_too_few_labels_propose_nothing():
    world = make_scored_world(2, seed=22)
    with pytest.raises(Invalid, match="redundant annotator pairs"):
        propose_sigmas(world.project)
    assert Skeleton.objects.filter(name="coco-17-person").count() == 1


def estimate_in_admin(django_user_model, project) -> list[str]:
    """Run the project admin's "Estimate sigmas" action; the messages it shows."""
    admin = django_user_model.objects.create_superuser("root", password="pw")
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/admin/annotation/project/", {"action": "estimate_sigmas", "_selected_action": [project.pk]}, follow=True,
    )
    return [str(m) for m in response.context["messages"]]


def test_admin_action_reports_the_proposal(django_user_model):
    world = make_scored_world(120, noise=1.0, seed=23)
    messages = estimate_in_admin(django_user_model, world.project)
    assert any("proposed coco-17-person v2 with learned sigmas" in m for m in messages), messages
    assert Skeleton.objects.filter(name="coco-17-person", version=2).exists()
    run = JobRun.objects.get(func="review.jobs.propose_sigmas")
    assert (run.queue, run.state, run.progress, run.kwargs) == ("scoring", "finished", 1.0, {"project_id": world.project.pk})
    assert run.result["skeleton"] == "coco-17-person v2" and len(run.result["changes"]) == 17


def test_admin_action_reports_a_failed_proposal(django_user_model):
    world = make_scored_world(2, seed=24)
    messages = estimate_in_admin(django_user_model, world.project)
    assert any("redundant annotator pairs" in m for m in messages), messages
    assert JobRun.objects.get(func="review.jobs.propose_sigmas").state == "failed"
