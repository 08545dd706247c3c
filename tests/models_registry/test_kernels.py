"""The pure kernels: heatmap / SimCC decoding and the top-down crop geometry."""

import numpy as np
import pytest

from models_registry.inference.decoding import decode, decode_heatmaps, decode_simcc, output_shape_problem
from models_registry.inference.geometry import (
    apply_affine, box_to_center_scale, crop_matrices, invert_affine, warp_crops,
)
from models_registry.inference.mapping import mapping_index, to_skeleton


def gaussian_heatmaps(centers: np.ndarray, h: int, w: int, sigma: float = 2.0) -> np.ndarray:
    """(B, K, h, w) Gaussians peaking at centers (B, K, 2) [x, y] in heatmap pixels."""
    ys, xs = np.mgrid[0:h, 0:w]
    dx = xs[None, None] - centers[..., 0, None, None]
    dy = ys[None, None] - centers[..., 1, None, None]
    return np.exp(-(dx**2 + dy**2) / (2 * sigma**2))


def test_gaussian_heatmaps_decode_to_a_tenth_of_a_pixel():
    rng = np.random.default_rng(0)
    centers = rng.uniform([3, 3], [45, 61], size=(8, 17, 2))  # away from the border, any sub-pixel offset
    xy, scores = decode_heatmaps(gaussian_heatmaps(centers, 64, 48))
    assert np.abs(xy - centers).max() < 0.1
    assert scores.min() > 0.88  # the peak pixel of a sigma-2 Gaussian is within 0.5 px of the center


def test_plain_argmax_would_not_be_accurate_enough():
    # The same maps decoded without refinement miss by up to half a pixel: the refinement is what passes.
    centers = np.array([[[10.4, 20.45]]])
    xy, _ = decode_heatmaps(gaussian_heatmaps(centers, 64, 48))
    argmax = np.array([10, 20])
    assert np.abs(argmax - centers[0, 0]).max() > 0.4 and np.abs(xy[0, 0] - centers[0, 0]).max() < 0.1


def test_heatmap_decoding_maps_heatmap_pixels_to_input_pixels():
    centers = np.array([[[10.25, 30.75]]])  # heatmap pixels, stride 4
    xy, _ = decode([gaussian_heatmaps(centers, 64, 48)], "heatmap", 192, 256)
    assert np.allclose(xy[0, 0], (centers[0, 0] + 0.5) * 4 - 0.5, atol=0.05)


def test_simcc_decoding_is_sub_pixel():
    rng = np.random.default_rng(1)
    x = rng.uniform(5, 180, size=(4, 17))
    y = rng.uniform(5, 250, size=(4, 17))
    ratio = 2.0
    bins_x, bins_y = np.arange(int(192 * ratio)), np.arange(int(256 * ratio))
    sx = np.exp(-((bins_x - x[..., None] * ratio) ** 2) / (2 * 3.0**2))
    sy = np.exp(-((bins_y - y[..., None] * ratio) ** 2) / (2 * 3.0**2))
    xy, _ = decode_simcc(sx, sy, ratio)
    assert np.abs(xy - np.stack([x, y], -1)).max() < 0.1


def test_crop_and_inverse_round_trip_to_1e4_px():
    rng = np.random.default_rng(2)
    boxes = np.column_stack([rng.uniform(0, 500, 32), rng.uniform(0, 300, 32),
                             rng.uniform(5, 300, 32), rng.uniform(5, 400, 32)])
    center, size = box_to_center_scale(boxes, 192 / 256, 1.25)
    m = crop_matrices(center, size, 192, 256)
    points = rng.uniform(-100, 900, size=(32, 17, 2))
    back = apply_affine(invert_affine(m), apply_affine(m, points))
    assert np.abs(back - points).max() < 1e-4
    # The padded box keeps the input's aspect ratio and contains the box.
    assert np.allclose(size[:, 0] / size[:, 1], 192 / 256)
    assert (size[:, 0] >= boxes[:, 2] * 1.25 - 1e-9).all() and (size[:, 1] >= boxes[:, 3] * 1.25 - 1e-9).all()


def test_warped_crop_samples_the_pixel_the_matrix_says():
    image = np.zeros((100, 120, 3), dtype=np.uint8)
    image[40, 70] = 255  # one bright pixel at x=70, y=40
    m = crop_matrices(np.array([[70.0, 40.0]]), np.array([[24.0, 32.0]]), 48, 64)  # 2x magnification
    crop = warp_crops(image, m, 48, 64)[0, ..., 0].astype(float)
    expected = apply_affine(m, np.array([[[70.0, 40.0]]]))[0, 0]
    ys, xs = np.nonzero(crop > 0)
    weights = crop[ys, xs]
    centroid = np.array([(xs * weights).sum(), (ys * weights).sum()]) / weights.sum()
    assert np.abs(centroid - expected).max() < 0.5


def test_mapping_sets_visibility_from_the_threshold_and_unmapped_points_to_zero():
    index = mapping_index(["a", "b", "c", "d"], ["B", "A", "C"], {"a": "A", "b": "B", "c": "C"})
    assert index.tolist() == [1, 0, 2, -1]
    kps = np.array([[[10.0, 10.0], [20.0, 20.0], [500.0, 5.0]]])  # C lies outside a 100x100 image
    scores = np.array([[0.2, 0.9, 0.99]])
    for below in (0, 1):
        coco, sc = to_skeleton(kps, scores, index, threshold=0.5, below_visibility=below, width=100, height=100)
        assert coco[0, :, 2].tolist() == [2, below, 0, 0]
        assert coco[0, 0, :2].tolist() == [20, 20] and coco[0, 3].tolist() == [0, 0, 0]
        assert sc[0].tolist() == [0.9, 0.2, 0.99, 0.0]
        if below == 0:
            assert coco[0, 1, :2].tolist() == [0, 0]


def test_output_shape_mismatch_is_explained():
    problem = output_shape_problem([np.zeros((1, 5, 64, 48))], "heatmap", 1, 17, 192, 256, 2.0)
    assert "17 declared keypoints" in problem and "(1, 5, 64, 48)" in problem
    assert output_shape_problem([np.zeros((1, 17, 64, 48))], "heatmap", 1, 17, 192, 256, 2.0) is None


@pytest.mark.parametrize("channel_order", ["rgb", "bgr"])
def test_normalization_follows_mean_std_and_channel_order(channel_order):
    from models_registry.inference.base import Decoding, Preprocessing
    from models_registry.inference.tensor_runtime import TensorRuntime

    pre = Preprocessing(input_w=4, input_h=4, mean=(10, 20, 30), std=(2, 4, 5), channel_order=channel_order)
    runtime = TensorRuntime(lambda b: [b], ("a",), pre, Decoding())
    crop = np.zeros((1, 4, 4, 3), dtype=np.uint8)
    crop[..., 0], crop[..., 1], crop[..., 2] = 50, 100, 150  # R, G, B
    tensor = runtime.to_tensor(crop)
    first = (50 - 10) / 2 if channel_order == "rgb" else (150 - 10) / 2
    assert tensor.shape == (1, 3, 4, 4) and tensor[0, 0, 0, 0] == pytest.approx(first)


def test_coordinate_outputs_in_pixels_or_normalized():
    coords = np.array([[[0.5, 0.25, 0.9], [0.0, 1.0, 0.1]]])
    xy, scores = decode([coords], "coordinates", 192, 256, normalized=True)
    assert xy.tolist() == [[[96.0, 64.0], [0.0, 256.0]]] and scores.tolist() == [[0.9, 0.1]]
    xy, scores = decode([coords[..., :2] * 100], "coordinates", 192, 256)
    assert xy.tolist() == [[[50.0, 25.0], [0.0, 100.0]]] and scores.tolist() == [[1.0, 1.0]]


def test_mediapipe_presets_output_exactly_the_shipped_skeleton_presets():
    """The runtime's output names are the preset skeletons' keypoint names, so the default mapping is complete."""
    import json
    from pathlib import Path

    from models_registry.inference.mediapipe_presets import FACEMESH_TO_FACE68, PRESETS

    shipped = {json.loads(p.read_text())["name"]: json.loads(p.read_text())["keypoints"]
               for p in (Path(__file__).resolve().parents[2] / "annotation" / "presets").glob("*.json")}
    assert list(PRESETS["pose"][0]) == shipped["coco-17-person"]
    assert list(PRESETS["hand"][0]) == shipped["hand-21"]
    assert list(PRESETS["face"][0]) == shipped["face-68"]
    assert len(FACEMESH_TO_FACE68) == 68 and all(0 <= i < 468 for pair in FACEMESH_TO_FACE68 for i in pair)


def test_top_down_runtime_labels_nothing_when_given_no_box_and_the_whole_image_when_given_none():
    from models_registry.inference.base import Decoding, Preprocessing
    from models_registry.inference.tensor_runtime import TensorRuntime

    calls = []

    def forward(batch):
        calls.append(len(batch))
        return [np.ones((len(batch), 2, 64, 48))]

    runtime = TensorRuntime(forward, ("a", "b"), Preprocessing(), Decoding(), batch_size=4)
    image = np.zeros((100, 80, 3), dtype=np.uint8)
    empty, whole, boxed = runtime.predict([image] * 3, [np.zeros((0, 4)), None, np.array([[1, 2, 30, 40]] * 5)])
    assert len(empty) == 0 and empty.keypoints.shape == (0, 2, 2)
    assert whole.boxes.tolist() == [[0, 0, 80, 100]] and len(boxed) == 5
    assert calls == [4, 2]  # six crops in batches of at most four
