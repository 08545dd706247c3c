"""Pre-label a project's images with a model version: one `model` Annotation per (image, version).

The job reads images in batches, runs the model, maps its keypoints onto the
project's skeleton, and keeps the results in memory; only when every batch
succeeded does it write them, in one transaction (created, or updated where
a previous run left one), so a failure or a cancel writes nothing and a
re-run never duplicates. Each instance carries the model's per-keypoint
scores under `scores`, next to COCO's bbox/keypoints/score.
"""

from __future__ import annotations

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from annotation.models import Annotation, Image, Project
from annotation.services.instances import validate_instances
from jointly.jobs.services import enqueue

from ..inference.mapping import boxes_for, instance_scores, mapping_index, to_skeleton
from ..models import ModelVersion, PrelabelRun
from .model_runs import ModelJobFailed, boxes_of_labels, explained_failures, predict_batches

Source = Annotation.Source
BOX_MODES = ("auto", "annotations", "detector", "image")
MAX_BATCH = 256
DETECTING_RUNTIMES = (ModelVersion.Runtime.MEDIAPIPE, ModelVersion.Runtime.PYTHON)


def usable_version_for(version: ModelVersion, project: Project) -> None:
    """Raise ValidationError unless `version` may label `project`."""
    if not version.is_usable:
        raise ValidationError({"model": [f"Model '{version}' has not passed its checks or is disabled."]})
    if version.skeleton_id != project.skeleton_id:
        raise ValidationError({"project": [
            f"Model '{version}' predicts skeleton {version.skeleton_id}; project '{project}' uses "
            f"skeleton {project.skeleton_id}."]})


def clean_options(options: dict, version: ModelVersion, box_modes=BOX_MODES) -> dict:
    """Bounded, explicit job options: boxes (one of `box_modes`, the first is the default), batch_size (1..256)."""
    if not isinstance(options, dict):
        raise ValidationError({"options": ["Expected an object."]})
    unknown = sorted(set(options) - {"boxes", "batch_size"})
    if unknown:
        raise ValidationError({"options": [f"Unknown option(s): {', '.join(unknown)}."]})
    boxes = options.get("boxes", box_modes[0])
    if boxes not in box_modes:
        raise ValidationError({"options": [f"boxes must be one of {', '.join(box_modes)}, not {boxes!r}."]})
    if boxes == "detector" and version.runtime not in DETECTING_RUNTIMES:
        raise ValidationError({"options": [f"A {version.runtime} model has no person detector; "
                                           f"use boxes={' or boxes='.join(b for b in box_modes if b != 'detector')}."]})
    batch_size = options.get("batch_size", 16)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= MAX_BATCH:
        raise ValidationError({"options": [f"batch_size must be an integer from 1 to {MAX_BATCH}."]})
    return {"boxes": boxes, "batch_size": batch_size}


def start_prelabel(version: ModelVersion, project: Project, options: dict, *, user) -> PrelabelRun:
    """Record a pre-label run and queue its job on `gpu`."""
    usable_version_for(version, project)
    options = clean_options(options or {}, version)
    with transaction.atomic():
        run = PrelabelRun.objects.create(model_version=version, project=project, options=options,
                                         created_by=user if user.is_authenticated else None)
        job = enqueue("gpu", "models_registry.jobs.prelabel_project", created_by=user,
                      description=f"Pre-label {project} with {version}"[:200], run_id=run.pk)
        PrelabelRun.objects.filter(pk=run.pk).update(job=job)
        run.job = job
    return run


def cancel_prelabel(run: PrelabelRun) -> PrelabelRun:
    """Ask a running pre-label job to stop after its current batch (it then writes nothing)."""
    PrelabelRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    run.cancel_requested = True
    return run


def _boxes_for_batch(images: list[Image], mode: str) -> list[np.ndarray | None]:
    if mode in ("detector", "image"):
        return [None] * len(images) if mode == "detector" else [
            np.array([[0.0, 0.0, im.width, im.height]]) for im in images]
    labeled = boxes_of_labels([im.pk for im in images])
    if mode == "annotations":
        return [labeled.get(im.pk, np.zeros((0, 4))) for im in images]
    return [labeled.get(im.pk) for im in images]  # auto: labels where there are any, else the runtime decides


def instances_from(prediction, index: np.ndarray, version: ModelVersion, width: int, height: int) -> list[dict]:
    """One image's Prediction -> instances on the skeleton, with per-keypoint `scores`."""
    coco, scores = to_skeleton(prediction.keypoints, prediction.scores, index, threshold=version.score_threshold,
                               below_visibility=version.below_threshold_visibility, width=width, height=height)
    boxes = boxes_for(prediction.boxes, coco, width, height)
    out = []
    for box, kps, sc, score in zip(boxes, coco, scores, instance_scores(scores, index)):
        if not (kps[:, 2] > 0).any():
            continue
        out.append({
            "bbox": [round(float(v), 2) for v in box],
            "keypoints": [round(float(v), 2) for v in kps.ravel()],
            "score": round(float(score), 4),
            "scores": [round(float(v), 4) for v in sc],
        })
    return out


def _predict_all(run: PrelabelRun, progress) -> dict[int, list[dict]]:
    version, project = run.model_version, run.project
    index = mapping_index(project.skeleton.spec().names, version.output_keypoints, version.keypoint_mapping)
    images = list(Image.objects.filter(project=project).order_by("id"))

    def stop_if_cancelled(done: int) -> None:
        if PrelabelRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
            raise ModelJobFailed(f"Cancelled after {done} of {len(images)} images; nothing was written.")

    return {
        image.pk: instances_from(prediction, index, version, image.width, image.height)
        for image, prediction in predict_batches(
            version, images, lambda batch: _boxes_for_batch(batch, run.options["boxes"]),
            batch_size=run.options["batch_size"], progress=progress, before_batch=stop_if_cancelled,
        )
    }


@transaction.atomic
def store_prelabels(version: ModelVersion, project: Project, results: dict[int, list[dict]]) -> dict[str, int]:
    """Create or update the version's annotation of each image (validated against the skeleton); counts."""
    spec = project.skeleton.spec()
    sizes = {pk: (w, h) for pk, w, h in Image.objects.filter(pk__in=list(results)).values_list("pk", "width", "height")}
    for image_id, instances in results.items():
        geometry = [{k: v for k, v in inst.items() if k != "scores"} for inst in instances]
        validate_instances(geometry, spec, *sizes[image_id])
    existing = {a.image_id: a for a in Annotation.objects.select_for_update().filter(
        source=Source.MODEL, pose_model=version, image__project=project)}
    new, changed = [], []
    now = timezone.now()
    for image_id, instances in results.items():
        current = existing.get(image_id)
        if current is None:
            new.append(Annotation(image_id=image_id, source=Source.MODEL, pose_model=version, instances=instances))
        elif current.instances != instances:
            current.instances, current.version, current.updated_at = instances, current.version + 1, now
            changed.append(current)
    Annotation.objects.bulk_create(new, batch_size=2000)
    Annotation.objects.bulk_update(changed, ["instances", "version", "updated_at"], batch_size=2000)
    return {"created": len(new), "updated": len(changed), "unchanged": len(results) - len(new) - len(changed)}


def run_prelabel(run_id: int, progress) -> dict:
    """The job: predict every image of the run's project, then store all of it at once."""
    run = PrelabelRun.objects.select_related("model_version", "project__skeleton").get(pk=run_id)
    with explained_failures(run.options["batch_size"]):
        results = _predict_all(run, progress)
    try:
        counts = store_prelabels(run.model_version, run.project, results)
    except ValidationError as exc:
        raise ModelJobFailed(f"The model produced labels the skeleton refuses: {exc.messages[:3]}") from exc
    instances = sum(len(v) for v in results.values())
    return {"images": len(results), "instances": instances, **counts}
