"""A QA lead's decision on a review task: accept, edit or send back for rework.

One function, `decide`, one transaction per decision, and one append-only
audit row (ReviewDecision) written in it with the state before. Locks are
taken image first, then task: the order of the assignment engine and of
scoring, so a rescore landing at the same moment waits or makes us wait,
and whoever comes second sees the version the first one left (409).

What each action leaves behind:

- accept_consensus / accept_annotation / edit: the image is accepted with
  exactly one final annotation, stored as source `review` (a copy of the
  consensus or of one annotator's labels, or the validated edit). Scoring
  rewrites the consensus on a rescore but never touches `review`, so a human
  decision is never undone.
- reject: comments pinned to an instance and a keypoint (optionally a point)
  of one annotator's labels; the chosen annotators get the image back as
  their next task with their previous labels as the draft and the comments
  in `review_comments` (image status `rework`), or with `reassign` their
  labels are set aside and new annotators fill the freed slots (the image
  goes back to `annotating`), with the comments in their task too. Either way the resubmission is scored again
  and, if it still needs a human, comes back to the queue as rework.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from annotation.models import Annotation, Assignment, Image
from annotation.services.annotations import replace_source_annotations
from annotation.engine import recount_images
from annotation.services import image_status
from annotation.services.instances import validate_instances

from ..models import ConsensusResult, ReviewDecision, ReviewTask
from .errors import ReviewConflict

Action = ReviewDecision.Action
Source = Annotation.Source
MAX_COMMENTS = 200
MAX_COMMENT_CHARS = 2000


@dataclass
class DecisionInput:
    """What the QA lead sent, parsed at the API edge (types checked, semantics checked here)."""

    action: str
    version: int
    annotator: int | None = None
    instances: Any = None
    comments: list[dict] = field(default_factory=list)
    annotators: list[int] | None = None
    reassign: bool = False
    note: str = ""


def scored_annotations(image_id: int):
    """The annotator labels that count for an image: every one but those set aside by a reassigning reject."""
    return Annotation.objects.filter(image_id=image_id, source=Source.ANNOTATOR).exclude(
        assignments__state=Assignment.State.REJECTED
    )


def decide(task_id: int, actor, data: DecisionInput, *, now: datetime | None = None) -> ReviewDecision:
    now = now or timezone.now()
    if data.action not in Action.values:
        raise ValidationError({"action": [f"Unknown action '{data.action}'; expected one of {', '.join(Action.values)}."]})
    image_id = ReviewTask.objects.values_list("image_id", flat=True).get(pk=task_id)
    with transaction.atomic():
        image = Image.objects.select_for_update().select_related("project__skeleton").get(pk=image_id)
        task = ReviewTask.objects.select_for_update().get(pk=task_id)
        _refuse_stale(task, actor, data.version, now)
        annotations = {a.annotator_id: a for a in scored_annotations(image.pk).order_by("annotator_id")}
        consensus = Annotation.objects.filter(image=image, source=Source.CONSENSUS).first()
        state_before = {
            "image_status": image.status,
            "task": {"version": task.version, "kind": task.kind, "round": task.round, "reasons": task.reasons,
                     "agreement": task.agreement, "leased_by": task.leased_by_id},
            "consensus": {"annotation": consensus.pk, "version": consensus.version} if consensus else None,
            "annotations": {str(user): {"annotation": a.pk, "version": a.version} for user, a in annotations.items()},
        }
        if data.action == Action.REJECT:
            payload = _reject(image, task, actor, data, annotations, state_before, now)
        else:
            payload = _accept(image, data, annotations, consensus)
        task.state, task.closed_at, task.version = ReviewTask.State.DONE, now, task.version + 1
        task.leased_by, task.lease_expires_at = None, None
        task.save(update_fields=["state", "closed_at", "version", "leased_by", "lease_expires_at"])
        if data.note:
            payload["note"] = data.note
        return ReviewDecision.objects.create(
            task=task, image=image, project_id=image.project_id, actor=actor, action=data.action,
            payload=payload, state_before=state_before, created_at=now,
        )


def _refuse_stale(task: ReviewTask, actor, version: int, now: datetime) -> None:
    if task.state != ReviewTask.State.OPEN:
        raise ReviewConflict(f"Review task {task.pk} was already decided.", version=task.version)
    if task.version != version:
        raise ReviewConflict(
            f"Review task {task.pk} changed since you read it (version {version}, now {task.version}); "
            "reload it and decide again.", version=task.version,
        )
    if task.leased_by_id not in (None, actor.pk) and task.lease_expires_at and task.lease_expires_at > now:
        raise ReviewConflict(f"Review task {task.pk} is leased by another QA lead.", version=task.version)


def _accept(image: Image, data: DecisionInput, annotations: dict, consensus: Annotation | None) -> dict:
    if data.action == Action.ACCEPT_CONSENSUS:
        if consensus is None:
            raise ValidationError({"action": ["This image has no consensus to accept; accept one annotation or edit."]})
        final, payload = consensus.instances, {"consensus": {"annotation": consensus.pk, "version": consensus.version}}
    elif data.action == Action.ACCEPT_ANNOTATION:
        chosen = annotations.get(data.annotator)
        if chosen is None:
            raise ValidationError({"annotator": [
                f"User {data.annotator} has no scored annotation of this image; expected one of "
                f"{', '.join(map(str, annotations)) or 'none'}."
            ]})
        final, payload = chosen.instances, {"annotator": data.annotator,
                                            "annotation": {"id": chosen.pk, "version": chosen.version}}
    else:
        spec = image.project.skeleton.spec()
        try:
            final = validate_instances(data.instances, spec, image.width, image.height)
        except ValidationError as error:  # same rules and messages as a submit, under this request's field
            raise ValidationError({"instances": error.messages}) from None
        payload = {"instances": final}
    replace_source_annotations(Source.REVIEW, {image.pk: final})
    image_status.accept([image.pk])
    return payload


def _reject(image: Image, task: ReviewTask, actor, data: DecisionInput, annotations: dict, state_before: dict,
            now: datetime) -> dict:
    spec = image.project.skeleton.spec()
    comments = _validated_comments(data.comments, spec, image, annotations, author=actor.get_username())
    chosen = data.annotators if data.annotators is not None else sorted(
        {c["annotator"] for c in comments if c["annotator"] is not None})  # image-wide comments name nobody
    unknown = [u for u in chosen if u not in annotations]
    if unknown or not chosen:
        raise ValidationError({"annotators": [
            "Choose whose labels go back for rework: " + (
                f"user(s) {', '.join(map(str, unknown))} did not label this image; " if unknown else "nobody was chosen; "
            ) + f"its annotators are {', '.join(map(str, annotations)) or 'none'}."
        ]})
    state_before["returned_labels"] = {str(u): annotations[u].instances for u in chosen}
    assignments = {a.annotator_id: a for a in Assignment.objects.select_for_update().filter(
        image=image, annotator_id__in=chosen)}
    if data.reassign:
        # The new annotators get the comments with their task (see annotation/api/tasks.py), pinned to a
        # keypoint and a point only: the instance numbers are those of labels they never see.
        Assignment.objects.filter(pk__in=[a.pk for a in assignments.values()]).update(
            state=Assignment.State.REJECTED,
            review_comments=[{"instance": None, **{k: c[k] for k in ("keypoint", "x", "y", "text", "author")}}
                             for c in comments],
        )
        move = image_status.reassign
    else:
        for user in chosen:
            a = assignments[user]
            a.state, a.submission_digest, a.annotation = Assignment.State.REWORK, "", None
            a.draft = {"instances": annotations[user].instances}
            a.review_comments = [
                {k: c[k] for k in ("instance", "keypoint", "x", "y", "text", "author")}
                for c in comments if c["annotator"] in (user, None)
            ]
        Assignment.objects.bulk_update(
            assignments.values(), ["state", "submission_digest", "annotation", "draft", "review_comments"]
        )
        # The resubmission is a new annotation of the same annotator (one per image and annotator):
        # the returned labels live on in this decision's state_before and in the draft.
        Annotation.objects.filter(pk__in=[annotations[u].pk for u in chosen]).delete()
        move = image_status.send_to_rework
    move([image.pk])
    recount_images(Image.objects.filter(pk=image.pk))
    return {"comments": comments, "annotators": chosen, "reassign": data.reassign}


def _validated_comments(comments: Any, spec, image: Image, annotations: dict, *, author: str) -> list[dict]:
    """Each comment pinned to one annotator's instance and keypoint (and optionally a point on the image)."""
    if not isinstance(comments, list) or not comments:
        raise ValidationError({"comments": ["A rejection needs at least one comment saying what to fix."]})
    if len(comments) > MAX_COMMENTS:
        raise ValidationError({"comments": [f"At most {MAX_COMMENTS} comments per decision."]})
    clean, errors = [], []
    for n, c in enumerate(comments):
        if not isinstance(c, dict):
            errors.append(f"comment {n}: expected an object")
            continue
        text = c.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_COMMENT_CHARS:
            errors.append(f"comment {n}: text must be 1 to {MAX_COMMENT_CHARS} characters")
            continue
        annotator = c.get("annotator")
        if annotator is not None and annotator not in annotations:
            errors.append(f"comment {n}: user {annotator!r} did not label this image")
            continue
        instance = c.get("instance")
        if instance is not None:
            labels = annotations[annotator].instances if annotator is not None else None
            if not isinstance(instance, int) or isinstance(instance, bool) or instance < 0 or (
                labels is not None and instance >= len(labels)
            ):
                errors.append(f"comment {n}: instance must be an index into that annotator's instances")
                continue
        keypoint = c.get("keypoint")
        if isinstance(keypoint, str):
            keypoint = spec.names.index(keypoint) if keypoint in spec.names else -1
        if keypoint is not None and (not isinstance(keypoint, int) or isinstance(keypoint, bool)
                                     or not 0 <= keypoint < spec.num_keypoints):
            errors.append(f"comment {n}: keypoint must be a name or index of the skeleton's "
                          f"{spec.num_keypoints} keypoints")
            continue
        x, y = c.get("x"), c.get("y")
        if (x is None) != (y is None):
            errors.append(f"comment {n}: give both x and y, or neither")
            continue
        if x is not None and not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= side
            for v, side in ((x, image.width), (y, image.height))
        ):
            errors.append(f"comment {n}: x and y must be a point on the {image.width}x{image.height} image")
            continue
        clean.append({"annotator": annotator, "instance": instance, "keypoint": keypoint,
                      "x": None if x is None else float(x), "y": None if y is None else float(y),
                      "text": text.strip(), "author": author})
    if errors:
        raise ValidationError({"comments": errors})
    return clean
