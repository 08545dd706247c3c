"""Evaluate a model version against a project's accepted ground truth and keep the scores.

Ground truth is exactly the project's COCO export of accepted labels
(annotation.services.coco_export). The model runs on those images (boxes
from the ground truth for top-down models, the way COCO's "GT box" protocol
scores pose estimators apart from detection; or the runtime's detector /
the whole image on request), its predictions become a COCO results file,
and pycocotools scores the two. The results file is stored with the
Evaluation so anyone can re-run pycocotools on the very same files.
"""

from __future__ import annotations

import orjson
import numpy as np
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction

from annotation.models import Image, Project
from annotation.services.coco_export import ExportSelection, coco_chunks, exported_images
from jointly.jobs.services import enqueue

from ..inference.base import ModelLoadError
from ..inference.evaluation import evaluate_keypoints
from ..inference.loading import build_runtime
from ..inference.mapping import mapping_index, to_skeleton
from ..models import Evaluation, ModelVersion
from .inference_input import ImageUnreadable, read_rgb
from .prelabel import DETECTING_RUNTIMES, MAX_BATCH, ModelJobFailed, usable_version_for
from .registry import local_weights

EVAL_BOXES = ("ground_truth", "detector", "image")


def clean_options(options: dict, version: ModelVersion) -> dict:
    if not isinstance(options, dict):
        raise ValidationError({"options": ["Expected an object."]})
    unknown = sorted(set(options) - {"boxes", "batch_size"})
    if unknown:
        raise ValidationError({"options": [f"Unknown option(s): {', '.join(unknown)}."]})
    boxes = options.get("boxes", "ground_truth")
    if boxes not in EVAL_BOXES:
        raise ValidationError({"options": [f"boxes must be one of {', '.join(EVAL_BOXES)}, not {boxes!r}."]})
    if boxes == "detector" and version.runtime not in DETECTING_RUNTIMES:
        raise ValidationError({"options": [f"A {version.runtime} model has no detector."]})
    batch_size = options.get("batch_size", 16)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= MAX_BATCH:
        raise ValidationError({"options": [f"batch_size must be an integer from 1 to {MAX_BATCH}."]})
    return {"boxes": boxes, "batch_size": batch_size}


def start_evaluation(version: ModelVersion, project: Project, options: dict, *, user):
    usable_version_for(version, project)
    options = clean_options(options or {}, version)
    return enqueue("gpu", "models_registry.jobs.evaluate_model", created_by=user,
                   description=f"Evaluate {version} on {project}"[:200],
                   model_version_id=version.pk, project_id=project.pk, options=options)


def ground_truth(project: Project) -> tuple[dict, dict[int, int]]:
    """The accepted-labels COCO dict, and Jointly image id -> its id in that dict."""
    gt = orjson.loads(b"".join(coco_chunks(project, ExportSelection())))
    rows = exported_images(project, ExportSelection())
    return gt, {row[0]: entry["id"] for row, entry in zip(rows, gt["images"])}


def predict_detections(version: ModelVersion, project: Project, gt: dict, image_ids: dict[int, int],
                       options: dict, progress) -> list[dict]:
    """COCO results (image_id, category_id, keypoints, score) of the model on the ground-truth images."""
    category_id = gt["categories"][0]["id"]
    index = mapping_index(project.skeleton.spec().names, version.output_keypoints, version.keypoint_mapping)
    mapped = index >= 0
    gt_boxes: dict[int, list] = {}
    for ann in gt["annotations"]:
        gt_boxes.setdefault(ann["image_id"], []).append(ann["bbox"])
    images = list(Image.objects.filter(pk__in=list(image_ids)).order_by("id"))
    batch_size, mode = options["batch_size"], options["boxes"]
    detections = []
    with local_weights(version) as path:
        runtime = build_runtime(version.runtime_spec(weights_path=path, batch_size=batch_size))
        try:
            for start in range(0, len(images), batch_size):
                batch = images[start:start + batch_size]
                if mode == "ground_truth":
                    boxes = [np.asarray(gt_boxes.get(image_ids[im.pk], []), dtype=np.float64).reshape(-1, 4)
                             for im in batch]
                elif mode == "image":
                    boxes = [np.array([[0.0, 0.0, im.width, im.height]]) for im in batch]
                else:
                    boxes = None
                predictions = runtime.predict([read_rgb(im) for im in batch], boxes)
                for im, prediction in zip(batch, predictions):
                    # Every mapped keypoint counts (OKS ignores a detection's visibility).
                    coco, scores = to_skeleton(prediction.keypoints, prediction.scores, index, threshold=0.0,
                                               below_visibility=0, width=im.width, height=im.height)
                    for kps, sc in zip(coco, scores):
                        detections.append({
                            "image_id": image_ids[im.pk], "category_id": category_id,
                            "keypoints": [float(v) for v in kps.ravel()],
                            "score": float(sc[mapped].mean()) if mapped.any() else 0.0,
                        })
                progress(start + len(batch), len(images), f"{start + len(batch)} of {len(images)} images")
        finally:
            if hasattr(runtime, "close"):
                runtime.close()
    return detections


def run_evaluation(model_version_id: int, project_id: int, options: dict, progress) -> dict:
    """The job: predict, score with pycocotools, store the Evaluation (replacing the previous one)."""
    version = ModelVersion.objects.get(pk=model_version_id)
    project = Project.objects.select_related("skeleton").get(pk=project_id)
    gt, image_ids = ground_truth(project)
    if not gt["annotations"]:
        raise ModelJobFailed(f"Project '{project}' has no accepted ground truth to evaluate against.")
    try:
        detections = predict_detections(version, project, gt, image_ids, options, progress)
    except (ModelLoadError, ImageUnreadable) as exc:
        raise ModelJobFailed(str(exc)) from exc
    except ValueError as exc:
        raise ModelJobFailed(f"The model's output does not fit its declaration: {exc}") from exc
    metrics = evaluate_keypoints(gt, detections, project.skeleton.spec().sigmas)
    with transaction.atomic():
        evaluation, _ = Evaluation.objects.select_for_update().update_or_create(
            model_version=version, project=project,
            defaults={
                "ap": metrics["AP"], "ap50": metrics["AP50"], "ap75": metrics["AP75"], "apm": metrics["APm"],
                "apl": metrics["APl"], "ar": metrics["AR"], "pck_005": metrics["pck"]["0.05"],
                "pck_010": metrics["pck"]["0.1"], "metrics": metrics, "options": options,
            },
        )
        if evaluation.detections:
            evaluation.detections.delete(save=False)
        evaluation.detections.save(f"evaluation-{evaluation.pk}.json", ContentFile(orjson.dumps(detections)))
    return {"evaluation": evaluation.pk, **{k: metrics[k] for k in ("AP", "AP50", "AP75", "APm", "APl", "AR")},
            "pck": metrics["pck"]}
