"""Run pycocotools' own ``COCOeval.computeOks`` on tiny in-memory datasets."""

from __future__ import annotations

import contextlib
import io

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def _coco(dataset: dict) -> COCO:
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def pycocotools_oks(gt_kp, gt_area, gt_bbox, dt_kp, dt_score, sigmas) -> np.ndarray:
    """pycocotools' OKS matrix for one image.

    Parameters
    ----------
    gt_kp : (G, K, 3); gt_area : (G,); gt_bbox : (G, 4)
    dt_kp : (D, K, 3); dt_score : (D,)
    sigmas : (K,)

    Returns
    -------
    (D, G) ndarray with rows in pycocotools' order (detections by descending
    score, stable sort), as ``COCOeval.computeOks`` returns it.
    """
    k = len(sigmas)
    cat = {"id": 1, "name": "thing", "keypoints": [f"k{i}" for i in range(k)], "skeleton": []}
    img = {"id": 1, "width": 1000, "height": 1000}
    gts = [
        {"id": i + 1, "image_id": 1, "category_id": 1, "keypoints": np.asarray(kp, float).ravel().tolist(),
         "num_keypoints": int(np.count_nonzero(np.asarray(kp)[:, 2] > 0)), "area": float(a),
         "bbox": [float(x) for x in bb], "iscrowd": 0}
        for i, (kp, a, bb) in enumerate(zip(gt_kp, gt_area, gt_bbox))
    ]
    dts = [
        {"id": i + 1, "image_id": 1, "category_id": 1, "keypoints": np.asarray(kp, float).ravel().tolist(),
         "score": float(s), "area": 1.0, "bbox": [0.0, 0.0, 1.0, 1.0], "iscrowd": 0}
        for i, (kp, s) in enumerate(zip(dt_kp, dt_score))
    ]
    gt = _coco({"images": [img], "categories": [cat], "annotations": gts})
    dt = _coco({"images": [img], "categories": [cat], "annotations": dts})
    ev = COCOeval(gt, dt, iouType="keypoints")
    ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
    ev.params.maxDets = [len(dts) + 1]  # never cut detections
    ev.params.imgIds = [1]
    ev._prepare()
    return np.asarray(ev.computeOks(1, 1))
