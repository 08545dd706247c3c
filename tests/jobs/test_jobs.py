"""Jobs run in-process without Redis, and through a real RQ worker with it."""

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from jointly.jobs.models import JobRun
from jointly.jobs.services import enqueue, run_job


@pytest.mark.django_db
def test_in_process_job_runs_at_once_and_records_its_result(staff_client, staff_user):
    run = enqueue("default", "tests.jobs.sample_jobs.create_users", created_by=staff_user, names=["ann", "bob"])
    assert run.state == JobRun.State.FINISHED
    assert run.result == {"created": 2} and run.progress == 1.0
    assert set(get_user_model().objects.values_list("username", flat=True)) >= {"ann", "bob"}
    body = staff_client.get(f"/api/v1/jobs/{run.id}/").json()
    assert (body["state"], body["result"]) == ("finished", {"created": 2})


@pytest.mark.django_db
def test_failed_job_keeps_error_and_can_be_rerun(staff_user):
    run = enqueue("default", "tests.jobs.sample_jobs.explode", created_by=staff_user)
    assert run.state == JobRun.State.FAILED
    assert "the model file is corrupt" in run.error
    assert run.progress == 0.5
    run_job(str(run.id))
    run.refresh_from_db()
    assert run.attempts == 2 and run.state == JobRun.State.FAILED


@pytest.mark.django_db
def test_rerunning_an_idempotent_job_duplicates_nothing(staff_user):
    run = enqueue("default", "tests.jobs.sample_jobs.create_users", names=["cat"])
    run_job(str(run.id))
    assert get_user_model().objects.filter(username="cat").count() == 1


@pytest.mark.django_db
def test_jobs_of_other_users_are_not_visible(django_user_model, api_client, staff_user):
    run = enqueue("default", "tests.jobs.sample_jobs.create_users", created_by=staff_user, names=["dan"])
    other = django_user_model.objects.create_user("other")
    api_client.force_authenticate(other)
    assert api_client.get(f"/api/v1/jobs/{run.id}/").status_code == 404


@pytest.mark.django_db
def test_a_failing_in_process_job_rolls_back_its_writes_and_not_the_callers(django_user_model):
    with transaction.atomic():
        django_user_model.objects.create(username="caller")
        django_user_model.objects.create(username="taken")
        run = enqueue("default", "tests.jobs.sample_jobs.create_then_collide", name="taken")
        django_user_model.objects.create(username="after")  # the caller's transaction is still usable
    assert run.state == JobRun.State.FAILED and "duplicate key" in run.error
    names = set(django_user_model.objects.values_list("username", flat=True))
    assert {"caller", "after", "taken"} <= names and "taken-scratch" not in names


def test_unknown_queue_is_refused():
    with pytest.raises(ValueError, match="unknown queue"):
        enqueue("nope", "tests.jobs.sample_jobs.explode")


@pytest.mark.django_db(transaction=True)
def test_real_worker_runs_queued_job_after_commit(redis_queues, run_worker, staff_user):
    run = enqueue("scoring", "tests.jobs.sample_jobs.create_users", created_by=staff_user, names=["eve", "fay"])
    assert JobRun.objects.get(pk=run.pk).state == JobRun.State.QUEUED
    result = run_worker("scoring")
    assert result.returncode == 0, result.stderr[-2000:]
    run.refresh_from_db()
    assert run.state == JobRun.State.FINISHED, run.error
    assert run.result == {"created": 2}
    assert get_user_model().objects.filter(username__in=["eve", "fay"]).count() == 2


@pytest.mark.django_db(transaction=True)
def test_real_worker_records_a_failure(redis_queues, run_worker):
    run = enqueue("default", "tests.jobs.sample_jobs.explode")
    run_worker("default")
    run.refresh_from_db()
    assert run.state == JobRun.State.FAILED
    assert "the model file is corrupt" in run.error
