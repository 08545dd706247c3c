"""A `python` runtime factory for the tests: every keypoint at the box center plus a learned offset."""

import numpy as np


def make_predictor(weights, options):
    offset = np.asarray(weights["offset"].numpy() if weights else (0.0, 0.0), dtype=float)

    def predict(images, boxes):
        out = []
        for image, image_boxes in zip(images, boxes):
            if image_boxes is None:
                h, w = image.shape[:2]
                image_boxes = np.array([[0.0, 0.0, w, h]])
            centers = image_boxes[:, :2] + image_boxes[:, 2:] / 2 + offset
            out.append({"keypoints": np.repeat(centers[:, None], 3, axis=1), "scores": np.full((len(centers), 3), 0.8)})
        return out

    return predict


def broken_factory(weights, options):
    raise RuntimeError("libfoo.so: cannot open shared object file")


def wrong_shape_factory(weights, options):
    return lambda images, boxes: [{"keypoints": np.zeros((1, 5, 2)), "scores": np.zeros((1, 5))} for _ in images]
