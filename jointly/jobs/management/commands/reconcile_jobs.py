"""Set job rows right against RQ: failed where RQ failed them, requeued where RQ lost them.

Workers do this in their periodic maintenance; run it from cron for a tighter
bound, or after restoring Redis. `--rerun ID` runs ended jobs again.
"""

from django.core.management.base import BaseCommand, CommandError

from jointly.jobs.models import JobRun
from jointly.jobs.services import reconcile_job_runs, rerun


class Command(BaseCommand):
    help = "Reconcile JobRun rows with RQ's registries; optionally rerun given jobs."

    def add_arguments(self, parser):
        parser.add_argument("--rerun", nargs="*", default=[], metavar="JOB_ID", help="Run these ended jobs again.")

    def handle(self, *args, **options):
        counts = reconcile_job_runs()
        self.stdout.write(f"failed {counts['failed']}, requeued {counts['requeued']}")
        for job_id in options["rerun"]:
            run = JobRun.objects.filter(pk=job_id).first()
            if run is None:
                raise CommandError(f"No job {job_id}.")
            if not run.is_done:
                raise CommandError(f"Job {job_id} is {run.state}; only an ended job is rerun.")
            self.stdout.write(f"job {job_id}: {rerun(run).state}")
