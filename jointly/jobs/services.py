"""Enqueue and run jobs.

`enqueue` records a JobRun and hands it to RQ (REDIS_URL set) once the
surrounding transaction commits, so a worker never sees a job whose data is
not yet visible. With no REDIS_URL the job runs in-process right away.

Job functions take keyword arguments that are JSON-serializable plus a
`progress` callable: `progress(done, total, message="")`. They must be
idempotent: a crashed worker's job is simply run again.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
import traceback
from contextlib import nullcontext
from importlib import import_module
from typing import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import JobRun

logger = logging.getLogger(__name__)

ProgressFn = Callable[..., None]


def use_redis() -> bool:
    return bool(settings.REDIS_URL)


def enqueue(queue: str, func: str, *, description: str = "", created_by=None, **kwargs) -> JobRun:
    """Record a job and dispatch it; returns the JobRun (its id is the public job id)."""
    if queue not in settings.JOB_QUEUES:
        raise ValueError(f"unknown queue {queue!r}; expected one of {settings.JOB_QUEUES}")
    run = JobRun.objects.create(
        queue=queue, func=func, kwargs=kwargs, description=description or func.rsplit(".", 1)[-1],
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
    )
    if use_redis():
        transaction.on_commit(lambda: _push_after_commit(run))
    else:
        run_job(str(run.id))
        run.refresh_from_db()
    return run


_queues: dict[tuple[str, str], object] = {}


def _rq_queue(name: str):
    """One RQ queue (and Redis connection) per process and queue, not one per enqueue."""
    import django_rq

    key = (name, settings.RQ_QUEUES[name]["URL"])
    if key not in _queues:
        _queues[key] = django_rq.get_queue(name)
    return _queues[key]


def _push_after_commit(run: JobRun) -> None:
    """Hand the committed job to RQ. If Redis cannot take it, the caller's work stands
    (it is committed) and the row stays `queued`: `reconcile_job_runs` pushes it again."""
    try:
        _push_to_rq(run)
    except Exception:
        logger.exception("job %s could not be queued; left for reconcile_job_runs", run.id)


def _push_to_rq(run: JobRun) -> None:
    _rq_queue(run.queue).enqueue(
        "jointly.jobs.services.run_job", str(run.id), job_id=str(run.id),
        description=run.description, job_timeout=settings.RQ_QUEUES[run.queue]["DEFAULT_TIMEOUT"],
    )


def _progress_alias() -> str:
    """The database connection progress is written through.

    A worker's job may run in one long transaction (a rescore does): progress
    written through the job's own connection would show only at its end. The
    `progress` alias is a second connection to the same database, so each write
    commits at once. In-process (no REDIS_URL) the job runs inside its caller's
    transaction, whose JobRun row another connection cannot see yet.
    """
    return "progress" if use_redis() and "progress" in settings.DATABASES else "default"


class ProgressReporter:
    """Writes progress to the JobRun (and RQ's job.meta) at most a few times a second."""

    min_interval = 0.5

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.alias = _progress_alias()
        self._last = 0.0
        self.fraction, self.message = 0.0, ""

    def __call__(self, done: float, total: float | None = None, message: str = "") -> None:
        fraction = float(done) / float(total) if total else float(done)
        fraction = max(0.0, min(1.0, fraction))
        self.fraction, self.message = fraction, message[:500]
        now = time.monotonic()
        if now - self._last < self.min_interval and fraction < 1.0:
            return
        self._last = now
        JobRun.objects.using(self.alias).filter(pk=self.run_id).update(progress=fraction, message=message[:500])
        try:
            from rq import get_current_job

            job = get_current_job()
        except Exception:  # not inside an RQ worker
            job = None
        if job is not None:
            job.meta.update(progress=fraction, message=message)
            job.save_meta()


def run_job(run_id: str):
    """Run a recorded job. The RQ entry point, and the in-process runner."""
    run = JobRun.objects.get(pk=run_id)
    JobRun.objects.filter(pk=run_id).update(
        state=JobRun.State.STARTED, started_at=timezone.now(), attempts=run.attempts + 1,
        error="", finished_at=None,
    )
    module_path, func_name = run.func.rsplit(".", 1)
    func = getattr(import_module(module_path), func_name)
    # In-process, the job runs inside the caller's transaction: a savepoint
    # keeps a failing job from poisoning it (the caller's own writes stand).
    # A worker runs it in autocommit, so its progress writes are seen at once.
    isolation = nullcontext() if use_redis() else transaction.atomic()
    reporter = ProgressReporter(run_id)
    try:
        with isolation:
            result = func(progress=reporter, **run.kwargs)
    except Exception as exc:
        logger.exception("job %s (%s) failed", run_id, run.func)
        JobRun.objects.filter(pk=run_id).update(
            state=JobRun.State.FAILED, finished_at=timezone.now(),
            error=f"{exc}\n\n{traceback.format_exc()}"[:20000],
            result=getattr(exc, "job_result", None),
            progress=reporter.fraction, message=reporter.message,  # how far it got (a savepoint may have undone it)
        )
        if use_redis():
            raise
        return None
    JobRun.objects.filter(pk=run_id).update(
        state=JobRun.State.FINISHED, finished_at=timezone.now(), progress=1.0, result=result,
    )
    return result


# --- keeping job rows honest ---------------------------------------------------------
#
# A JobRun row is written by the job itself, so a job that dies without running its
# own `except` (the work-horse SIGKILLed, out of memory, the machine gone) or that
# never reached RQ (Redis down after the commit, Redis restarted without
# persistence) would stay `queued` or `started` forever. Two things set it right:
# the worker class (jointly/jobs/worker.py) records a killed work-horse at once,
# and `reconcile_job_runs` compares every open row with RQ's own record of the job
# (run by the workers' maintenance, `manage.py reconcile_jobs`, and on reading a job).


def record_failure(run_id: str, reason: str) -> bool:
    """Mark an open job failed with `reason`; False when it had already ended."""
    return bool(JobRun.objects.filter(pk=run_id, state__in=(JobRun.State.QUEUED, JobRun.State.STARTED)).update(
        state=JobRun.State.FAILED, finished_at=timezone.now(), error=reason[:20000],
    ))


def requeue(run: JobRun, reason: str) -> None:
    """Send a recorded job to RQ again (jobs are idempotent), saying why in its message."""
    JobRun.objects.filter(pk=run.pk).update(state=JobRun.State.QUEUED, message=reason[:500], finished_at=None)
    _push_to_rq(run)


def _rq_job(run: JobRun):
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        return Job.fetch(str(run.id), connection=_rq_queue(run.queue).connection)
    except NoSuchJobError:
        return None


def _rq_failure_reason(job) -> str:
    result = job.latest_result()
    text = getattr(result, "exc_string", None) or ""
    return f"RQ failed the job: {text.strip() or job.get_status()}"


def reconcile_job_run(run: JobRun, *, now=None) -> str | None:
    """Bring one open JobRun in line with RQ; returns "failed", "requeued" or None.

    - RQ failed, stopped or canceled it (a killed work-horse, a timeout, an abandoned
      job RQ's registry cleanup found): the row fails with RQ's reason.
    - RQ has no such job: it never got there (enqueue failed after the commit) or
      Redis lost it. Past JOB_LOST_AFTER_SECONDS it is queued again while it has
      attempts left (JOB_MAX_ATTEMPTS), else failed saying so.
    A job RQ still holds as queued or started is left alone: it is waiting or running.
    """
    from rq.job import JobStatus

    if not use_redis() or run.state not in (JobRun.State.QUEUED, JobRun.State.STARTED):
        return None
    now = now or timezone.now()
    job = _rq_job(run)
    status = job.get_status() if job is not None else None
    if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        return "failed" if record_failure(str(run.id), _rq_failure_reason(job)) else None
    if job is None and (run.started_at or run.created_at) < now - timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS):
        if run.attempts < settings.JOB_MAX_ATTEMPTS:
            requeue(run, f"requeued: RQ had no record of it (attempt {run.attempts + 1})")
            return "requeued"
        record_failure(str(run.id), f"lost: RQ had no record of the job after {run.attempts} attempt(s)")
        return "failed"
    return None


def reconcile_job_runs(*, now=None) -> dict[str, int]:
    """`reconcile_job_run` for every open row, after RQ's own cleanup of abandoned jobs."""
    if not use_redis():
        return {"failed": 0, "requeued": 0}
    from rq.registry import StartedJobRegistry

    for name in settings.JOB_QUEUES:  # let RQ fail work-horses whose worker died with them
        StartedJobRegistry(queue=_rq_queue(name)).cleanup()
    counts = {"failed": 0, "requeued": 0}
    for run in JobRun.objects.filter(state__in=(JobRun.State.QUEUED, JobRun.State.STARTED)).order_by("created_at"):
        outcome = reconcile_job_run(run, now=now)
        if outcome:
            counts[outcome] += 1
    return counts


def rerun(run: JobRun) -> JobRun:
    """Run an ended job again (jobs are idempotent): back to RQ, or in-process."""
    if use_redis():
        requeue(run, "requeued by hand")
    else:
        run_job(str(run.id))
    run.refresh_from_db()
    return run
