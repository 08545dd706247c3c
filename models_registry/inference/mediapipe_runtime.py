"""Pretrained MediaPipe models that ship inside the `mediapipe==0.10.14` wheel, run offline on the CPU.

Uses the legacy `mp.solutions` API (Pose, Hands, FaceMesh) in static-image
mode; each carries its own detector, so boxes are optional:

- pose finds one person per call: with boxes, each box (padded by 25%) is
  cropped and run on its own, so a crowd gets one skeleton per box; without,
  the whole image gives at most one person. Scores are BlazePose's
  per-landmark visibility.
- hand and face find up to `max_instances` objects in the whole image.
  Hands report one handedness confidence per hand, used as every landmark's
  score; the face mesh reports no confidence at all, so a found face's
  landmarks score 1.0 and the score threshold never hides them.
"""

from __future__ import annotations

from importlib.util import find_spec

import numpy as np

from .base import DryRunReport, ModelLoadError, Prediction
from .mediapipe_presets import BLAZEPOSE_TO_COCO17, FACEMESH_TO_FACE68, PRESETS


def mediapipe_available() -> bool:
    return find_spec("mediapipe") is not None


def _face68_matrix() -> np.ndarray:
    """(68, 468) averaging matrix: face-68 point = mean of its mesh points."""
    m = np.zeros((68, 468))
    for i, sources in enumerate(FACEMESH_TO_FACE68):
        m[i, list(sources)] = 1.0 / len(sources)
    return m


class MediapipeRuntime:
    has_detector = True

    def __init__(self, preset: str, *, max_instances: int = 4, min_detection_confidence: float = 0.5):
        if preset not in PRESETS:
            raise ModelLoadError(f"Unknown MediaPipe preset '{preset}'; expected one of {', '.join(PRESETS)}.",
                                 "preset")
        if not mediapipe_available():
            raise ModelLoadError("The mediapipe runtime needs the optional extra: pip install 'jointly[mediapipe]'.",
                                 "runtime")
        import mediapipe as mp

        self.preset = preset
        self.keypoint_names = PRESETS[preset][0]
        solutions = mp.solutions
        if preset == "pose":
            self._solver = solutions.pose.Pose(
                static_image_mode=True, model_complexity=1, min_detection_confidence=min_detection_confidence)
        elif preset == "hand":
            self._solver = solutions.hands.Hands(
                static_image_mode=True, max_num_hands=max_instances, model_complexity=1,
                min_detection_confidence=min_detection_confidence)
        else:
            self._solver = solutions.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=max_instances, refine_landmarks=False,
                min_detection_confidence=min_detection_confidence)
            self._face_matrix = _face68_matrix()

    def close(self) -> None:
        self._solver.close()

    def _run(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One solver call on a (H, W, 3) uint8 RGB image -> keypoints (N, K, 2) in its pixels, scores (N, K)."""
        h, w = image.shape[:2]
        result = self._solver.process(np.ascontiguousarray(image))
        k = len(self.keypoint_names)
        if self.preset == "pose":
            if result.pose_landmarks is None:
                return np.zeros((0, k, 2)), np.zeros((0, k))
            lm = np.array([(p.x, p.y, p.visibility) for p in result.pose_landmarks.landmark])[list(BLAZEPOSE_TO_COCO17)]
            return (lm[None, :, :2] * (w, h)), lm[None, :, 2]
        if self.preset == "hand":
            hands = result.multi_hand_landmarks or []
            confidence = [c.classification[0].score for c in (result.multi_handedness or [])]
            xy = np.array([[(p.x, p.y) for p in hand.landmark] for hand in hands]).reshape(-1, k, 2)
            return xy * (w, h), np.repeat(np.asarray(confidence, dtype=np.float64)[:, None], k, axis=1)
        faces = result.multi_face_landmarks or []
        mesh = np.array([[(p.x, p.y) for p in face.landmark[:468]] for face in faces]).reshape(-1, 468, 2)
        xy = np.einsum("km,nmc->nkc", self._face_matrix, mesh) * (w, h)
        return xy, np.ones(xy.shape[:2])

    def _run_in_box(self, image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        x, y, bw, bh = box
        pad_w, pad_h = 0.125 * bw, 0.125 * bh
        x0, y0 = int(max(0, np.floor(x - pad_w))), int(max(0, np.floor(y - pad_h)))
        x1, y1 = int(min(w, np.ceil(x + bw + pad_w))), int(min(h, np.ceil(y + bh + pad_h)))
        if x1 - x0 < 2 or y1 - y0 < 2:
            k = len(self.keypoint_names)
            return np.zeros((0, k, 2)), np.zeros((0, k))
        xy, scores = self._run(image[y0:y1, x0:x1])
        return xy + (x0, y0), scores

    def predict(self, images, boxes=None) -> list[Prediction]:
        boxes = boxes if boxes is not None else [None] * len(images)
        out = []
        k = len(self.keypoint_names)
        for image, image_boxes in zip(images, boxes):
            if image_boxes is not None and len(image_boxes) == 0:
                out.append(Prediction.empty(k))  # asked to look in no box: nothing to find
            elif self.preset == "pose" and image_boxes is not None:
                parts = [self._run_in_box(image, b) for b in np.asarray(image_boxes, dtype=np.float64)]
                found = [i for i, (xy, _) in enumerate(parts) if len(xy)]
                xy = np.concatenate([parts[i][0] for i in found]) if found else np.zeros((0, k, 2))
                scores = np.concatenate([parts[i][1] for i in found]) if found else np.zeros((0, k))
                given = np.asarray(image_boxes, dtype=np.float64)[found].reshape(-1, 4)
                out.append(Prediction(given, xy, scores))
            else:
                xy, scores = self._run(image)
                out.append(Prediction(np.full((len(xy), 4), np.nan), xy, scores))
        return out

    def dry_run(self) -> DryRunReport:
        result = self.predict([np.zeros((64, 64, 3), dtype=np.uint8)])[0]
        return DryRunReport(output_shapes=[result.keypoints.shape])
