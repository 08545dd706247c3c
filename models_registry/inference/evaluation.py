"""Keypoint evaluation against ground truth: pycocotools COCOeval plus per-keypoint OKS and PCK.

AP, AP50, AP75, APm, APl and AR are COCOeval(..., "keypoints")'s own
numbers with the skeleton's sigmas in place of COCO's. The extra figures
use COCOeval's matching: each ground-truth instance takes the detection
COCOeval matched to it at OKS 0.5 (all areas, up to maxDets detections);
an unmatched ground truth counts as missed.

- per-keypoint OKS: the mean over labeled ground-truth keypoints of
  exp(-d^2 / (2 s^2 k^2)), s^2 the ground-truth area, k = 2 sigma
  (COCO's own term), missed ones counting 0;
- PCK@a: the share of labeled ground-truth keypoints whose match lies within
  a * max(box w, box h) of them (a = 0.05, 0.1).
"""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np

PCK_ALPHAS = (0.05, 0.1)
STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def evaluate_keypoints(gt: dict, detections: list[dict], sigmas) -> dict:
    """gt: a COCO keypoints dict; detections: COCO results (image_id, category_id, keypoints, score).

    Returns {"AP": ..., ..., "per_keypoint_oks": [K], "pck": {"0.05": ..., "0.1": ...},
    "per_keypoint_pck": {"0.05": [K], ...}, "images": n, "instances": n}.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    sigmas = np.asarray(sigmas, dtype=np.float64)
    k = len(sigmas)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        if not detections:
            return _empty(k, gt)
        coco_dt = coco_gt.loadRes(copy.deepcopy(detections))
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        ev.params.kpt_oks_sigmas = sigmas
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = {name: float(value) for name, value in zip(STAT_NAMES, ev.stats)}
    oks_sum, labeled, hits = np.zeros(k), np.zeros(k), {a: np.zeros(k) for a in PCK_ALPHAS}
    variances = (2 * sigmas) ** 2
    max_det = ev.params.maxDets[-1]
    for e in ev.evalImgs:
        # areaRng "all" is the first range; at IoU threshold index 0 (OKS 0.5).
        if e is None or e["aRng"] != ev.params.areaRng[0] or e["maxDet"] != max_det:
            continue
        for g_index, gt_id in enumerate(e["gtIds"]):
            g = coco_gt.anns[gt_id]
            if g.get("iscrowd", 0) or e["gtIgnore"][g_index]:
                continue
            gk = np.asarray(g["keypoints"], dtype=np.float64).reshape(k, 3)
            vis = gk[:, 2] > 0
            labeled += vis
            dt_id = int(e["gtMatches"][0][g_index])
            if dt_id == 0:
                continue
            dk = np.asarray(coco_dt.anns[dt_id]["keypoints"], dtype=np.float64).reshape(k, 3)
            d2 = ((dk[:, :2] - gk[:, :2]) ** 2).sum(axis=1)
            area = g["area"] + np.spacing(1)
            oks_sum += np.where(vis, np.exp(-d2 / variances / area / 2), 0.0)
            size = max(g["bbox"][2], g["bbox"][3])
            for a in PCK_ALPHAS:
                hits[a] += vis & (np.sqrt(d2) <= a * size)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_kp_oks = np.where(labeled > 0, oks_sum / labeled, np.nan)
        per_kp_pck = {a: np.where(labeled > 0, hits[a] / labeled, np.nan) for a in PCK_ALPHAS}
    total = labeled.sum()
    return {
        **stats,
        "per_keypoint_oks": _json_floats(per_kp_oks),
        "pck": {str(a): (float(hits[a].sum() / total) if total else None) for a in PCK_ALPHAS},
        "per_keypoint_pck": {str(a): _json_floats(per_kp_pck[a]) for a in PCK_ALPHAS},
        "images": len(gt.get("images", [])),
        "instances": len(gt.get("annotations", [])),
        "detections": len(detections),
    }


def _json_floats(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in values]


def _empty(k: int, gt: dict) -> dict:
    return {
        **{name: -1.0 for name in STAT_NAMES},
        "per_keypoint_oks": [None] * k,
        "pck": {str(a): None for a in PCK_ALPHAS},
        "per_keypoint_pck": {str(a): [None] * k for a in PCK_ALPHAS},
        "images": len(gt.get("images", [])), "instances": len(gt.get("annotations", [])), "detections": 0,
    }
