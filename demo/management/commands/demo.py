"""`python manage.py demo`: a populated Jointly in one command (see demo/ and the README's quick start)."""

from __future__ import annotations

import os

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from jointly.jobs.models import JobRun
from jointly.jobs.services import enqueue, use_redis
from models_registry.models import PrelabelRun

from ... import photos, report, simulation, world
from ...people import CAST, QA_LEAD


class Command(BaseCommand):
    help = ("Create a demo organization, vendor, people and a COCO-17 project with rendered figures of known "
            "truth, let simulated annotators and a QA lead work through the real services, and report.")

    def add_arguments(self, parser):
        parser.add_argument("--size", type=int, default=200, help="Rendered images (default 200, at most 5000).")
        parser.add_argument("--reset", action="store_true", help="Archive the previous demo and start over.")
        parser.add_argument("--wait", type=float, default=900.0,
                            help="With REDIS_URL: seconds to wait for the workers at each step (default 900).")
        parser.add_argument("--addr", default=os.environ.get("JOINTLY_ADDR", "127.0.0.1:8000"),
                            help="Where the server answers, for the links printed at the end.")

    def handle(self, *args, size, reset, wait, addr, **options):
        if not 10 <= size <= 5000:
            raise CommandError("--size must be between 10 and 5000.")
        self.wait = wait
        if reset:
            self.stdout.write(world.reset())
        with tqdm(total=1, desc="people and project", unit="step") as bar:
            cast = world.build_world()
            bar.update(1)
        project = cast.project
        with tqdm(total=size, desc="render figures", unit="image") as bar:
            world.build_dataset(project, size, progress=bar.update)
        with tqdm(total=1, desc="photographs + MediaPipe", unit="step") as bar:
            done = photos.add_photos_and_prelabel(project, cast.qa_lead)
            self._wait_for(JobRun.objects.filter(pk__in=PrelabelRun.objects.filter(project=project).values("job")),
                           "pre-label")
            bar.set_postfix_str(done[:60])
            bar.update(1)
        log = simulation.WorkLog()
        sigmas = np.asarray(project.skeleton.spec().sigmas)
        clock = simulation.Clock(hours_back=max(3.0, size / 60))
        with tqdm(desc="annotators at work", unit="task") as bar:
            while True:
                submitted = simulation.annotate_pass(project, cast.annotators, clock, log, sigmas, bar.update)
                if use_redis():
                    simulation.wait_for_scoring(project, timeout=wait)
                if not submitted:
                    break
        with tqdm(desc="QA lead at work", unit="decision") as bar:
            log.decisions = simulation.qa_lead_works(project, cast.qa_lead, bar.update)
        with tqdm(total=1, desc="project quality report", unit="job") as bar:
            from review.models import ProjectAgreement

            if sum(log.submitted.values()) or log.decisions or not ProjectAgreement.objects.filter(project=project).exists():
                with transaction.atomic():
                    run = enqueue("scoring", "review.jobs.score_project", description=f"Demo report of {project}",
                                  project_id=project.pk)
                self._wait_for(JobRun.objects.filter(pk=run.pk), "project report")
            bar.update(1)
        numbers = report.measure(project)
        self.numbers = numbers
        labels = {b.username: b.label for b in CAST}
        for line in report.render(numbers, labels):
            self.stdout.write(line)
        for name, why in log.refused.items():
            self.stdout.write(f"  (the product stopped {name}: {why})")
        self._where_next(project, cast, addr)

    def _wait_for(self, runs, what: str) -> None:
        """With workers: wait for the given JobRuns to finish (in-process they already have)."""
        import time

        deadline = time.monotonic() + self.wait
        while runs.filter(state__in=[JobRun.State.QUEUED, JobRun.State.STARTED]).exists():
            if time.monotonic() > deadline:
                raise CommandError(f"The {what} job did not finish within {self.wait:.0f} s: is an rqworker running?")
            time.sleep(0.5)
        failed = runs.filter(state=JobRun.State.FAILED).first()
        if failed is not None:
            raise CommandError(f"The {what} job failed: {failed.error[-500:]}")

    def _where_next(self, project, cast, addr: str) -> None:
        base = f"http://{addr}"
        p = project.pk
        w = self.stdout.write
        w("")
        w(f"Where to click next (every demo password is '{world.PASSWORD}'):")
        w(f"  annotate:   {base}/label/{p}/                    as ann_careful (or any ann_*)")
        w(f"  review:     {base}/review/{p}/                   as {QA_LEAD.username} - the queue it left for you")
        w(f"  dashboard:  {base}/dashboard/projects/{p}/       as {QA_LEAD.username}")
        w(f"  annotators: {base}/dashboard/annotators/          as {world.VENDOR_MANAGER} (quality, hours, pausing)")
        w(f"  admin:      {base}/admin/                         as admin (skeletons, projects, jobs)")
