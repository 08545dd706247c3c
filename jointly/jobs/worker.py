"""The RQ worker class of Jointly: RQ's own, plus honest JobRun rows.

RQ marks a job failed when its work-horse dies (SIGKILL, out of memory), but
the JobRun row the API shows was only ever written by the job itself. This
worker records the death on the row as it happens, and folds
`reconcile_job_runs` into RQ's periodic maintenance so rows of jobs lost any
other way are set right too. Set as RQ["WORKER_CLASS"] in settings.
"""

from __future__ import annotations

import logging
import os

from django.db import connections
from rq.worker import Worker

from .services import reconcile_job_runs, record_failure

logger = logging.getLogger(__name__)


class JobRunWorker(Worker):
    def handle_work_horse_killed(self, job, retpid, ret_val, rusage):
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        signal = f" by signal {os.WTERMSIG(ret_val)}" if ret_val and os.WIFSIGNALED(ret_val) else ""
        try:
            record_failure(job.id, f"The worker process running this job was killed{signal} "
                                   f"(exit status {ret_val}); what it had not committed is lost. Jobs are idempotent: "
                                   "run it again.")
        finally:
            # The next work-horse is forked from this process: it must not inherit our connection.
            connections.close_all()

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        try:
            counts = reconcile_job_runs()
            if any(counts.values()):
                logger.warning("reconciled job rows with RQ: %s", counts)
        except Exception:
            logger.exception("reconciling job rows with RQ failed")
        finally:
            connections.close_all()
