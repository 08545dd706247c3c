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
        transaction.on_commit(lambda: _push_to_rq(run))
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


def _push_to_rq(run: JobRun) -> None:
    _rq_queue(run.queue).enqueue(
        "jointly.jobs.services.run_job", str(run.id), job_id=str(run.id),
        description=run.description, job_timeout=settings.RQ_QUEUES[run.queue]["DEFAULT_TIMEOUT"],
    )


class ProgressReporter:
    """Writes progress to the JobRun (and RQ's job.meta) at most a few times a second."""

    min_interval = 0.5

    def __init__(self, run_id: str):
        self.run_id = run_id
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
        JobRun.objects.filter(pk=self.run_id).update(progress=fraction, message=message[:500])
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
