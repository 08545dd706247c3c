"""Validate annotation instances against a skeleton and an image.

The rules: exactly K keypoints, v in {0, 1, 2}, finite numbers, v=0 means
x=y=0, labeled keypoints inside the image (a small tolerance, since people
click on the border), bbox non-negative and inside the image. Every
violation is reported with its instance and keypoint index, so a client can
highlight it.

Checks are vectorized over all instances at once: a 150k-instance COCO
import validates in one pass of array operations.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError

from ..models import SkeletonSpec

#: How far outside the image (in pixels, or as a fraction of the image side,
#: whichever is larger) a clicked keypoint or box edge may land.
EDGE_TOLERANCE_PX = 2.0
EDGE_TOLERANCE_FRACTION = 0.01
MAX_REPORTED_ERRORS = 100


def instance_errors(instances: Any, spec: SkeletonSpec, width: float, height: float) -> list[str]:
    """Every problem of a list of instances, as messages naming instance and keypoint."""
    if not isinstance(instances, list):
        return ["instances must be a list of objects with bbox and keypoints."]
    k = spec.num_keypoints
    errors: list[str] = []
    rows, boxes, row_index = [], [], []
    for i, inst in enumerate(instances):
        if not isinstance(inst, dict):
            errors.append(f"instance {i}: expected an object with bbox and keypoints.")
            continue
        unknown = set(inst) - {"bbox", "keypoints", "score", "area", "id", "num_keypoints", "iscrowd"}
        if unknown:
            errors.append(f"instance {i}: unknown field(s) {', '.join(sorted(unknown))}.")
        kps, bbox = inst.get("keypoints"), inst.get("bbox")
        if not isinstance(kps, list) or len(kps) != 3 * k:
            got = len(kps) // 3 if isinstance(kps, list) else "no"
            length = f" ({len(kps)} numbers)" if isinstance(kps, list) else ""
            errors.append(f"instance {i}: expected {k} keypoints ({3 * k} numbers), got {got}{length}.")
            continue
        if not isinstance(bbox, list) or len(bbox) != 4:
            errors.append(f"instance {i}: bbox must be [x, y, w, h].")
            continue
        if not all(_is_number(x) for x in kps) or not all(_is_number(x) for x in bbox):
            errors.append(f"instance {i}: keypoints and bbox must be numbers.")
            continue
        for field in ("score", "area"):
            if field in inst and (not _is_number(inst[field]) or not math.isfinite(inst[field])):
                errors.append(f"instance {i}: {field} must be a finite number.")
        if "area" in inst and _is_number(inst["area"]) and inst["area"] < 0:
            errors.append(f"instance {i}: area must not be negative.")
        rows.append(kps)
        boxes.append(bbox)
        row_index.append(i)
    if rows:
        errors += array_errors(
            np.asarray(rows, dtype=np.float64).reshape(len(rows), k, 3),
            np.asarray(boxes, dtype=np.float64),
            spec, width, height, instance_ids=np.asarray(row_index),
        )
    return errors


def array_errors(
    keypoints: np.ndarray, bboxes: np.ndarray, spec: SkeletonSpec, width, height,
    instance_ids: np.ndarray | None = None, limit: int = MAX_REPORTED_ERRORS,
    label: str = "instance", counts: dict[str, int] | None = None,
) -> list[str]:
    """Vectorized checks.

    keypoints: (N, K, 3) x, y, v.  bboxes: (N, 4) x, y, w, h.
    width, height: scalars or (N,) arrays (image size of each instance).
    instance_ids: (N,) labels used in messages (default 0..N-1).
    label: what an id names in messages ("instance", or "annotation" for a COCO file's ids).
    counts: when given, gets the number of violations of each kind added to it,
    so a caller can summarize a large file beyond the capped messages.
    Returns at most `limit` messages, then one line counting the rest.
    """
    n = keypoints.shape[0]
    ids = np.arange(n) if instance_ids is None else np.asarray(instance_ids)
    w = np.broadcast_to(np.asarray(width, dtype=np.float64), (n,))
    h = np.broadcast_to(np.asarray(height, dtype=np.float64), (n,))
    tol_x = np.maximum(EDGE_TOLERANCE_PX, EDGE_TOLERANCE_FRACTION * w)
    tol_y = np.maximum(EDGE_TOLERANCE_PX, EDGE_TOLERANCE_FRACTION * h)
    x, y, v = keypoints[..., 0], keypoints[..., 1], keypoints[..., 2]
    names = spec.names
    problems: list[tuple[np.ndarray, str, str]] = []

    finite_kp = np.isfinite(keypoints).all(axis=2)
    problems.append((~finite_kp, "keypoint {k} ({name}): x, y and v must be finite numbers", "keypoint_not_finite"))
    bad_v = finite_kp & ~np.isin(v, (0, 1, 2))
    problems.append((bad_v, "keypoint {k} ({name}): v must be 0, 1 or 2, got {v}", "visibility_invalid"))
    unlabeled_at_point = finite_kp & (v == 0) & ((x != 0) | (y != 0))
    problems.append(
        (unlabeled_at_point, "keypoint {k} ({name}): v=0 (not labeled) requires x=y=0", "unlabeled_not_at_origin")
    )
    labeled = finite_kp & ((v == 1) | (v == 2))
    outside = labeled & (
        (x < -tol_x[:, None]) | (y < -tol_y[:, None]) | (x > (w + tol_x)[:, None]) | (y > (h + tol_y)[:, None])
    )
    problems.append(
        (outside, "keypoint {k} ({name}) at ({x:g}, {y:g}) is outside the {w:g}x{h:g} image", "keypoint_outside_image")
    )

    messages: list[str] = []
    total = 0
    for mask, template, kind in problems:
        hits = np.argwhere(mask)
        total += len(hits)
        if counts is not None and len(hits):
            counts[kind] = counts.get(kind, 0) + len(hits)
        for inst, kp in hits[: max(0, limit - len(messages))]:
            messages.append(
                f"{label} {ids[inst]}: "
                + template.format(
                    k=kp, name=names[kp], v=_fmt(v[inst, kp]), x=x[inst, kp], y=y[inst, kp], w=w[inst], h=h[inst]
                )
                + "."
            )

    bx, by, bw, bh = bboxes.T if len(bboxes) else (np.empty(0),) * 4
    finite_box = np.isfinite(bboxes).all(axis=1)
    box_rules = [
        (~finite_box, "bbox must be finite numbers", "bbox_not_finite"),
        (finite_box & ((bw < 0) | (bh < 0)), "bbox width and height must not be negative", "bbox_negative"),
        (
            finite_box & ((bx < -tol_x) | (by < -tol_y) | (bx + bw > w + tol_x) | (by + bh > h + tol_y)),
            "bbox {box} is not inside the {w:g}x{h:g} image",
            "bbox_outside_image",
        ),
    ]
    for mask, template, kind in box_rules:
        hits = np.flatnonzero(mask)
        total += len(hits)
        if counts is not None and len(hits):
            counts[kind] = counts.get(kind, 0) + len(hits)
        for inst in hits[: max(0, limit - len(messages))]:
            box = "[" + ", ".join(f"{c:g}" for c in bboxes[inst]) + "]"
            messages.append(f"{label} {ids[inst]}: " + template.format(box=box, w=w[inst], h=h[inst]) + ".")
    if total > len(messages):
        messages.append(f"... and {total - len(messages)} more problems.")
    return messages


def validate_instances(
    instances: Any, spec: SkeletonSpec, width: float, height: float, *, max_instances: int | None = None,
) -> list[dict]:
    """Return the instances in canonical form, or raise ValidationError listing every problem.

    `max_instances` (the project's `max_instances_per_image`) is checked first, so an
    absurd list is refused before any of it is looked at: scoring's cost grows with it.
    """
    if max_instances is not None and isinstance(instances, list) and len(instances) > max_instances:
        raise ValidationError({"instances": [
            f"{len(instances)} instances, over this project's limit of {max_instances} per image "
            "(max_instances_per_image)."
        ]})
    errors = instance_errors(instances, spec, width, height)
    if errors:
        raise ValidationError({"instances": errors})
    return [canonical_instance(inst) for inst in instances]


def canonical_instance(inst: dict) -> dict:
    """Floats for coordinates, ints for visibility, only the fields we keep."""
    kps = inst["keypoints"]
    out = {
        "bbox": [float(c) for c in inst["bbox"]],
        "keypoints": [float(c) if i % 3 != 2 else int(c) for i, c in enumerate(kps)],
    }
    for field in ("score", "area"):
        if field in inst and inst[field] is not None:
            out[field] = float(inst[field])
    return out


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
