"""Issue 12, finding 8: a job row tells the truth about a job that died or never reached RQ.

`services.reconcile_job_runs` and `services.rerun` are read off the module, not imported by name, so this file
loads (and its tests fail, not error) on a tree without it."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from jointly.jobs import services
from jointly.jobs.models import JobRun
from jointly.jobs.services import enqueue

JOB = "tests.jobs.sample_jobs.create_users_in_one_transaction"


def _suffixes(prefix: str) -> list[str]:
    names = get_user_model().objects.filter(username__startswith=prefix).values_list("username", flat=True)
    return sorted(name.removeprefix(prefix) for name in names)


@pytest.mark.django_db(transaction=True)
def test_a_sigkilled_work_horse_fails_its_row_with_a_reason_and_a_rerun_matches_a_clean_run(
    redis_queues, run_worker, tmp_path,
):
    clean = enqueue("default", JOB, prefix="clean-", count=6)
    killed = enqueue("default", JOB, prefix="killed-", count=6, die_once_marker=str(tmp_path / "died"))
    result = run_worker("default")
    assert result.returncode == 0, result.stderr[-2000:]
    killed.refresh_from_db()
    assert killed.state == JobRun.State.FAILED, (killed.state, result.stderr[-2000:])
    assert "killed by signal 9" in killed.error
    # Progress went through its own connection: visible although the job's transaction died.
    assert killed.progress == 0.5 and killed.message == "half way"
    assert _suffixes("killed-") == []

    services.rerun(killed)
    assert run_worker("default").returncode == 0
    killed.refresh_from_db()
    clean.refresh_from_db()
    assert (killed.state, killed.attempts, clean.state) == (JobRun.State.FINISHED, 2, JobRun.State.FINISHED)
    assert _suffixes("killed-") == _suffixes("clean-") == [str(i) for i in range(6)]


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_enqueue_failed_after_the_commit_is_requeued_and_runs(redis_queues, run_worker, settings):
    good_queues = settings.RQ_QUEUES
    settings.RQ_QUEUES = {name: {"URL": "redis://127.0.0.1:1/0", "DEFAULT_TIMEOUT": 60} for name in settings.JOB_QUEUES}
    services._queues.clear()
    run = enqueue("scoring", JOB, prefix="late-", count=4)  # Redis refused it; the caller's commit stands
    assert JobRun.objects.get(pk=run.pk).state == JobRun.State.QUEUED
    settings.RQ_QUEUES = good_queues
    services._queues.clear()
    assert services.reconcile_job_runs() == {"failed": 0, "requeued": 0}  # not yet: it may be on its way
    later = timezone.now() + timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS + 1)
    assert services.reconcile_job_runs(now=later) == {"failed": 0, "requeued": 1}
    assert run_worker("scoring").returncode == 0
    run.refresh_from_db()
    assert run.state == JobRun.State.FINISHED and _suffixes("late-") == ["0", "1", "2", "3"]


@pytest.mark.django_db(transaction=True)
def test_a_job_lost_too_often_is_failed_with_the_reason(redis_queues, settings):
    run = enqueue("default", JOB, prefix="lost-", count=2)
    from redis import Redis

    Redis.from_url(redis_queues).flushdb()  # Redis restarted without persistence
    JobRun.objects.filter(pk=run.pk).update(attempts=settings.JOB_MAX_ATTEMPTS)
    later = timezone.now() + timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS + 1)
    assert services.reconcile_job_runs(now=later) == {"failed": 1, "requeued": 0}
    run.refresh_from_db()
    assert run.state == JobRun.State.FAILED and "RQ had no record" in run.error


@pytest.mark.django_db(transaction=True)
def test_reading_a_job_that_rq_failed_shows_it_failed(redis_queues, staff_user, staff_client):
    """A row left `started` by a worker that died before it could write (RQ's registry cleanup
    failed the job) reads as failed, with RQ's reason, the first time anyone looks."""
    from rq.job import Job

    run = enqueue("default", JOB, created_by=staff_user, prefix="read-", count=2)
    JobRun.objects.filter(pk=run.pk).update(state=JobRun.State.STARTED)
    job = Job.fetch(str(run.id), connection=services._rq_queue("default").connection)
    job.set_status("failed")
    body = staff_client.get(f"/api/v1/jobs/{run.id}/").json()
    assert body["state"] == "failed" and body["error"].startswith("RQ failed the job")


@pytest.mark.django_db(transaction=True)
def test_a_last_replica_whose_scoring_enqueue_failed_is_scored_after_reconciling(redis_queues, run_worker, settings):
    """The submit commits, Redis refuses the scoring job: the annotator still gets 200, and the
    image does not stay in `scoring` for ever - the job row is requeued and a worker scores it."""
    from annotation.models import Image
    from annotation.engine import next_task
    from review.models import ConsensusResult
    from tests.annotation.factories import client_for, instance, make_world

    world = make_world(images=1, replicas=1)
    lease, _ = next_task(world["annotator_a"], world.project, vendor_id=world.vendor_a.pk)
    good_queues = settings.RQ_QUEUES
    settings.RQ_QUEUES = {name: {"URL": "redis://127.0.0.1:1/0", "DEFAULT_TIMEOUT": 60} for name in settings.JOB_QUEUES}
    services._queues.clear()
    response = client_for(world["annotator_a"], token=True).post(
        f"/api/v1/assignments/{lease.pk}/submit/", {"instances": [instance()]}, format="json")
    assert response.status_code == 200, response.content
    image = Image.objects.get(pk=lease.image_id)
    assert image.status == Image.Status.SCORING
    run = JobRun.objects.get(func="review.jobs.score_image")
    assert run.state == JobRun.State.QUEUED

    settings.RQ_QUEUES = good_queues
    services._queues.clear()
    later = timezone.now() + timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS + 1)
    assert services.reconcile_job_runs(now=later) == {"failed": 0, "requeued": 1}
    assert run_worker("scoring").returncode == 0
    run.refresh_from_db()
    image.refresh_from_db()
    assert run.state == JobRun.State.FINISHED and image.status != Image.Status.SCORING
    assert ConsensusResult.objects.filter(image=image).exists()
