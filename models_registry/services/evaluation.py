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
from django.core.files.base import ContentFile
from django.db import transaction

from annotation.models import Image, Project
from annotation.services.coco_export import ExportSelection, coco_chunks, exported_images
from jointly.jobs.services import enqueue

from ..inference.evaluation import evaluate_keypoints
from ..inference.mapping import instance_scores, mapping_index, to_skeleton
from ..models import Evaluation, ModelVersion
from .model_runs import ModelJobFailed, explained_failures, predict_batches
from .prelabel import clean_options, usable_version_for

EVAL_BOXES = ("ground_truth", "detector", "image")


def start_evaluation(version: ModelVersion, project: Project, options: dict, *, user):
    usable_version_for(version, project)
    options = clean_options(options or {}, version, EVAL_BOXES)
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
    gt_boxes: dict[int, list] = {}
    for ann in gt["annotations"]:
        gt_boxes.setdefault(ann["image_id"], []).append(ann["bbox"])
    images = list(Image.objects.filter(pk__in=list(image_ids)).order_by("id"))

    def boxes(batch: list[Image]) -> list | None:
        if options["boxes"] == "ground_truth":
            return [np.asarray(gt_boxes.get(image_ids[im.pk], []), dtype=np.float64).reshape(-1, 4) for im in batch]
        if options["boxes"] == "image":
            return [np.array([[0.0, 0.0, im.width, im.height]]) for im in batch]
        return None  # the runtime's detector

    detections = []
    for im, prediction in predict_batches(version, images, boxes, batch_size=options["batch_size"], progress=progress):
        # Every mapped keypoint counts (OKS ignores a detection's visibility).
        coco, scores = to_skeleton(prediction.keypoints, prediction.scores, index, threshold=0.0,
                                   below_visibility=0, width=im.width, height=im.height)
        for kps, score in zip(coco, instance_scores(scores, index)):
            detections.append({
                "image_id": image_ids[im.pk], "category_id": category_id,
                "keypoints": [float(v) for v in kps.ravel()],
                "score": float(score),
            })
    return detections


def run_evaluation(model_version_id: int, project_id: int, options: dict, progress) -> dict:
    """The job: predict, score with pycocotools, store the Evaluation (replacing the previous one)."""
    version = ModelVersion.objects.get(pk=model_version_id)
    project = Project.objects.select_related("skeleton").get(pk=project_id)
    gt, image_ids = ground_truth(project)
    if not gt["annotations"]:
        raise ModelJobFailed(f"Project '{project}' has no accepted ground truth to evaluate against.")
    with explained_failures(options["batch_size"]):
        detections = predict_detections(version, project, gt, image_ids, options, progress)
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
