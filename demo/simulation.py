"""The simulated people at work, through the product's own services.

Annotators take tasks with `annotation.engine.next_task` after the same
checks the API makes (`annotation.access.task_context`, then
`annotation.engine.admission.work_refusal` for pausing and qualification), and
submit with `annotation.engine.submit_assignment`: the engine moves images
to scoring and enqueues `review.jobs.score_image`, scoring decides
auto-accept, one more replica (adaptive) or review. With REDIS_URL set the
jobs run on `rqworker` processes and `wait_for_scoring` waits for them;
on the embedded default they run in-process. The QA lead takes tasks with
`review.services.queue.next_review` and decides with
`review.services.decisions.decide`.

Each annotator keeps a simulated clock (started a few hours back, moved by
their own pace), handed to the engine as `now`, so active time and
throughput in the dashboards look like a working day, not a burst.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

import numpy as np
from django.utils import timezone

from annotation import engine
from annotation.access import task_context
from annotation.engine.admission import qualifying, work_refusal
from annotation.models import Annotation, Image, Project
from review.models import ReviewDecision, ReviewTask
from review.services.decisions import DecisionInput, decide
from review.services.gold import score_against_gold
from review.services.queue import next_review

from .people import CAST, QA_LEAD, Behaviour, labels_for

#: Seconds per image each behaviour spends (careful people take longer).
PACE = {"ann_fast": 9, "ann_unqualified": 12}
DEFAULT_PACE = 28
QA_SHARE = 0.5  # the simulated QA lead decides about half the disputed images and leaves the rest


@dataclass
class WorkLog:
    submitted: dict = field(default_factory=dict)  # username -> submissions this run
    refused: dict = field(default_factory=dict)  # username -> why the product stopped them
    decisions: int = 0


class Clock:
    """Per-annotator simulated time, never ahead of the real clock."""

    def __init__(self, hours_back: float):
        self.start = timezone.now() - timedelta(hours=hours_back)
        self.at: dict[str, datetime] = {}

    def take(self, username: str, seconds: float) -> tuple[datetime, datetime]:
        begin = min(self.at.get(username, self.start), timezone.now() - timedelta(seconds=seconds + 1))
        end = begin + timedelta(seconds=seconds)
        self.at[username] = end + timedelta(seconds=3)
        return begin, end


def _truth_source(image_ids: list[int], project: Project) -> dict[int, list[dict]]:
    """What a simulated person sees as the objects of each image: the rendered truth, or for a real
    photograph (no truth) the model's pre-label, which they adjust like everyone else's labels."""
    from .models import TrueLabel

    truth = dict(TrueLabel.objects.filter(image_id__in=image_ids).values_list("image_id", "instances"))
    missing = [i for i in image_ids if i not in truth]
    if missing:
        for image_id, instances in Annotation.objects.filter(
            image_id__in=missing, source=Annotation.Source.MODEL
        ).values_list("image_id", "instances"):
            truth[image_id] = [{"bbox": i["bbox"], "keypoints": i["keypoints"]} for i in instances]
    return truth


def annotate_pass(project: Project, users: dict, clock: Clock, log: WorkLog, sigmas: np.ndarray,
                  progress: Callable[[int], None]) -> int:
    """Every simulated annotator takes one task at a time, round-robin, until nobody gets one. Returns submissions."""
    active = {b.username: b for b in CAST if b.username in users}
    done = 0
    while active:
        for username, behaviour in list(active.items()):
            if not _one_task(project, users[username], behaviour, clock, log, sigmas):
                del active[username]
                continue
            done += 1
            progress(1)
    return done


def _one_task(project: Project, user, behaviour: Behaviour, clock: Clock, log: WorkLog, sigmas: np.ndarray) -> bool:
    context = task_context(user, project.pk)
    refusal = work_refusal(context)
    if refusal is not None:
        log.refused[behaviour.username] = refusal[0]
        return False
    pace = PACE.get(behaviour.username, DEFAULT_PACE)
    begin, end = clock.take(behaviour.username, pace)
    tested = qualifying(context)
    assignment, _ = engine.next_task(
        user, context, vendor_id=context.staffed_vendor_id, may_hold_lease=context.held_lease_id is not None,
        rework_id=context.rework_assignment_id, gold_only=tested, now=begin,
    )
    if assignment is None:
        return False
    image = assignment.image
    seen = _truth_source([image.pk], project).get(image.pk, [])
    labels = labels_for(behaviour, seen, sigmas, image.width, image.height,
                        seed=(CAST.index(behaviour), image.pk, assignment.pk), tested=tested)
    engine.submit_assignment(assignment, labels, client_active_ms=pace * 1000, now=end)
    log.submitted[behaviour.username] = log.submitted.get(behaviour.username, 0) + 1
    return True


def scoring_pending(project: Project) -> int:
    return Image.objects.filter(project=project, status=Image.Status.SCORING).count()


def wait_for_scoring(project: Project, *, timeout: float, poll: float = 0.5) -> None:
    """With workers (REDIS_URL set) scoring happens elsewhere: wait until no image of the project is in scoring."""
    deadline = time.monotonic() + timeout
    while scoring_pending(project):
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{scoring_pending(project)} image(s) still wait for scoring after {timeout:.0f} s: is a worker "
                "running? Start one with `python manage.py rqworker default scoring gpu`."
            )
        time.sleep(poll)


def qa_lead_works(project: Project, lead, progress: Callable[[int], None]) -> int:
    """The QA lead decides disputed images, lowest agreement first, until they decided QA_SHARE of all review
    tasks ever opened: accepting the consensus when it is right, or placing the keypoints themselves."""
    spec = project.skeleton.spec()
    target = math.ceil(QA_SHARE * ReviewTask.objects.filter(project=project).count())
    made = ReviewDecision.objects.filter(project=project, actor=lead).count()
    decided = 0
    while made + decided < target:
        task, _ = next_review(lead, project)
        if task is None:
            break
        truth = _truth_source([task.image_id], project).get(task.image_id, [])
        consensus = Annotation.objects.filter(image_id=task.image_id, source=Annotation.Source.CONSENSUS).first()
        if consensus is not None and score_against_gold(truth, consensus.instances, spec)["oks"] >= 0.85:
            data = DecisionInput(action="accept_consensus", version=task.version)
        else:
            image = task.image
            data = DecisionInput(action="edit", version=task.version, instances=labels_for(
                QA_LEAD, truth, np.asarray(spec.sigmas), image.width, image.height, seed=(99, task.image_id, task.pk)))
        decide(task.pk, lead, data)
        decided += 1
        progress(1)
    return decided
