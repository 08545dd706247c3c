"""OKS kernels: equality with pycocotools, and the symmetric annotator form."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from review.agreement import (COCO_SIGMAS, InstanceBatch, agreement_oks, box_iou, compute_oks, pair_agreement,
                              pair_oks)

from ._coco_reference import pycocotools_oks
from ._helpers import PROPERTY

finite = dict(allow_nan=False, allow_infinity=False)


@st.composite
def coco_image(draw):
    """One image: G references, D others, K keypoints; others are noisy copies or arbitrary."""
    k = draw(st.integers(1, 17))
    g = draw(st.integers(1, 4))
    d = draw(st.integers(1, 4))
    sigmas = draw(arrays(np.float64, k, elements=st.floats(0.01, 0.2, **finite)))
    g_xy = draw(arrays(np.float64, (g, k, 2), elements=st.floats(-100, 1000, **finite)))
    g_v = draw(arrays(np.int64, (g, k), elements=st.sampled_from([0, 1, 2])))
    if draw(st.booleans()):  # a reference without labeled keypoints: the box fallback
        g_v[draw(st.integers(0, g - 1))] = 0
    g_xy[g_v == 0] = 0.0  # COCO stores unlabeled keypoints at 0, 0
    area = draw(arrays(np.float64, g, elements=st.one_of(st.just(0.0), st.floats(0, 2e5, **finite))))
    bbox = draw(arrays(np.float64, (g, 4), elements=st.floats(0, 600, **finite)))
    src = draw(arrays(np.int64, d, elements=st.integers(0, g - 1)))
    scale = np.sqrt(area[src])[:, None, None] * sigmas[None, :, None]
    noise = draw(arrays(np.float64, (d, k, 2), elements=st.floats(-4, 4, **finite)))
    d_xy = g_xy[src] + noise * scale
    if draw(st.booleans()):  # detections anywhere, e.g. around the enlarged box
        d_xy = draw(arrays(np.float64, (d, k, 2), elements=st.floats(-700, 1700, **finite)))
    d_v = draw(arrays(np.int64, (d, k), elements=st.sampled_from([0, 1, 2])))
    score = draw(arrays(np.float64, d, elements=st.sampled_from([0.1, 0.5, 0.9])))  # ties: stable order
    return sigmas, g_xy, g_v, area, bbox, d_xy, d_v, score


@PROPERTY
@given(coco_image())
def test_compute_oks_equals_pycocotools(case):
    sigmas, g_xy, g_v, area, bbox, d_xy, d_v, score = case
    expected = pycocotools_oks(np.dstack([g_xy, g_v]), area, bbox, np.dstack([d_xy, d_v]), score, sigmas)
    order = np.argsort(-score, kind="mergesort")  # pycocotools' detection order
    got = compute_oks(g_xy[None], g_v[None], area[None], d_xy[order][:, None], sigmas, ref_bbox=bbox[None])
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("case", ["identical", "far", "zero_area", "no_reference_keypoints", "inside_box"])
def test_compute_oks_edge_cases_equal_pycocotools(case):
    k = 17
    ref = np.zeros((1, k, 3))
    ref[0, :, :2] = np.linspace(10, 200, 2 * k).reshape(k, 2)
    ref[0, :, 2] = 2
    area, bbox = np.array([5000.0]), np.array([[10.0, 10.0, 100.0, 200.0]])
    other = ref.copy()
    if case == "far":
        other[..., :2] += 1e4
    if case == "zero_area":
        area[:] = 0
        other[0, 0, 0] += 1
    if case in ("no_reference_keypoints", "inside_box"):
        ref[..., :] = 0
        other[0, :3, :2] = [[-500, 40], [50, 50], [900, 900]] if case == "no_reference_keypoints" else 50
    expected = pycocotools_oks(ref, area, bbox, other, [1.0], COCO_SIGMAS)
    got = compute_oks(ref[None, :, :, :2], ref[None, :, :, 2], area[None], other[:, None, :, :2], COCO_SIGMAS,
                      ref_bbox=bbox[None])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    if case == "identical":
        assert got[0, 0] == pytest.approx(1.0)


def test_compute_oks_without_box_leaves_unscorable_references_nan():
    ref_v = np.zeros(3)
    assert np.isnan(compute_oks(np.zeros((3, 2)), ref_v, 100.0, np.ones((3, 2)), [0.1] * 3))


def _batch(xy, v, area, image=None, source=None, bbox=None):
    n = len(xy)
    return InstanceBatch(xy=xy, v=v, bbox=np.tile([0.0, 0.0, 10.0, 10.0], (n, 1)) if bbox is None else bbox,
                         area=area, image=np.zeros(n, int) if image is None else image,
                         source=np.arange(n) if source is None else source)


def test_pair_oks_is_compute_oks_on_gathered_pairs():
    rng = np.random.default_rng(0)
    n, k = 50, 17
    xy = rng.uniform(0, 300, (n, k, 2))
    v = rng.integers(0, 3, (n, k))
    v[3] = 0
    area = rng.uniform(100, 5e4, n)
    bbox = np.column_stack([rng.uniform(0, 100, (n, 2)), rng.uniform(10, 200, (n, 2))])
    b = _batch(xy, v, area, bbox=bbox)
    ref, oth = rng.integers(0, n, 500), rng.integers(0, n, 500)
    expected = compute_oks(xy[ref], v[ref], area[ref], xy[oth], COCO_SIGMAS, ref_bbox=bbox[ref])
    np.testing.assert_allclose(pair_oks(b, ref, oth, COCO_SIGMAS, chunk=64), expected, rtol=0, atol=1e-15)


def _reference_agreement(a_xy, a_v, a_area, b_xy, b_v, b_area, sigmas):
    """Keypoint-by-keypoint transcription of the documented definition."""
    s2 = (a_area + b_area) / 2
    terms = []
    per = []
    for i in range(len(sigmas)):
        la, lb = a_v[i] > 0, b_v[i] > 0
        if not (la or lb):
            per.append(np.nan)
            continue
        if la and lb:
            d2 = (a_xy[i, 0] - b_xy[i, 0]) ** 2 + (a_xy[i, 1] - b_xy[i, 1]) ** 2
            term = np.exp(-d2 / (2 * s2 * (2 * sigmas[i]) ** 2))
        else:
            term = 0.0
        terms.append(term)
        per.append(term)
    return (np.mean(terms) if terms else np.nan), np.array(per)


@st.composite
def instance_pair(draw):
    k = draw(st.integers(1, 17))
    sigmas = draw(arrays(np.float64, k, elements=st.floats(0.02, 0.15, **finite)))
    a_xy = draw(arrays(np.float64, (k, 2), elements=st.floats(0, 500, **finite)))
    jitter = draw(arrays(np.float64, (k, 2), elements=st.floats(-60, 60, **finite)))
    a_v = draw(arrays(np.int64, k, elements=st.sampled_from([0, 1, 2])))
    b_v = draw(arrays(np.int64, k, elements=st.sampled_from([0, 1, 2])))
    areas = draw(arrays(np.float64, 2, elements=st.floats(10, 1e5, **finite)))
    return sigmas, a_xy, a_v, areas[0], a_xy + jitter, b_v, areas[1]


@PROPERTY
@given(instance_pair())
def test_agreement_oks_matches_its_definition_and_is_symmetric(case):
    sigmas, a_xy, a_v, a_area, b_xy, b_v, b_area = case
    oks, per = agreement_oks(a_xy, a_v, a_area, b_xy, b_v, b_area, sigmas)
    ref_oks, ref_per = _reference_agreement(a_xy, a_v, a_area, b_xy, b_v, b_area, sigmas)
    np.testing.assert_allclose(per, ref_per, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(oks, ref_oks, rtol=1e-12, atol=1e-15)
    oks2, per2 = agreement_oks(b_xy, b_v, b_area, a_xy, a_v, a_area, sigmas)
    np.testing.assert_allclose(oks2, oks, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(per2, per, rtol=1e-12, atol=1e-15)
    # batched kernel, both precisions (bare instances fall back to their identical boxes: IoU 1)
    b = _batch(np.stack([a_xy, b_xy]), np.stack([a_v, b_v]), [a_area, b_area])
    expected = 1.0 if np.isnan(oks) else oks
    got, got_per = pair_agreement(b, [0], [1], sigmas, keypoints=True)
    np.testing.assert_allclose(got[0], expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got_per[0], per, rtol=1e-12, atol=1e-15, equal_nan=True)
    # float32 coordinates near 500 px are exact to ~6e-5 px; on a 10 px^2 object with sigma 0.02
    # that moves OKS by up to ~4e-4 (worst case of d*dd/(4 s^2 sigma^2) * exp(-e)), hence 1e-3.
    assert pair_agreement(b, [0], [1], sigmas, dtype=np.float32)[0] == pytest.approx(expected, abs=1e-3)


def test_agreement_oks_counts_one_sided_keypoints_as_errors():
    xy = np.array([[10.0, 10.0], [20.0, 20.0], [30.0, 30.0]])
    oks, per = agreement_oks(xy, [2, 2, 0], 100.0, xy, [2, 0, 0], 100.0, [0.05, 0.05, 0.05])
    np.testing.assert_array_equal(per, [1.0, 0.0, np.nan])
    assert oks == pytest.approx(0.5)


def test_agreement_oks_equals_coco_oks_when_both_label_the_same_keypoints():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, (17, 2))
    v = np.where(rng.random(17) < 0.7, 2, 0)
    other = xy + rng.normal(0, 2, (17, 2))
    oks, _ = agreement_oks(xy, v, 900.0, other, v, 900.0, COCO_SIGMAS)
    assert oks == pytest.approx(compute_oks(xy, v, 900.0, other, COCO_SIGMAS), abs=1e-12)


def test_bare_boxes_agree_by_iou():
    b = _batch(np.zeros((2, 3, 2)), np.zeros((2, 3)), [100.0, 100.0],
               bbox=np.array([[0.0, 0, 10, 10], [5.0, 0, 10, 10]]))
    assert pair_agreement(b, [0], [1], [0.1] * 3)[0] == pytest.approx(box_iou([0, 0, 10, 10], [5, 0, 10, 10]))
    assert box_iou([0, 0, 10, 10], [5, 0, 10, 10]) == pytest.approx(50 / 150)


def test_pair_agreement_against_another_batch_and_mirrored():
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 100, (4, 3, 2))
    v = np.full((4, 3), 2)
    a = _batch(xy[:2], v[:2], [50.0, 60.0])
    b = _batch(xy[2:], v[2:], [70.0, 80.0])
    got, per = pair_agreement(a, [0, 1], [1, 0], [0.1] * 3, other=b, keypoints=True)
    for i, (p, q) in enumerate([(0, 3), (1, 2)]):
        oks, kp = agreement_oks(xy[p], v[p], [50.0, 60.0][p], xy[q], v[q], [70.0, 80.0][q - 2], [0.1] * 3)
        assert got[i] == pytest.approx(oks)
        np.testing.assert_allclose(per[i], kp, rtol=1e-12, atol=1e-20)  # terms below e^-50 are 0
    perm = [2, 1, 0]
    mirrored = pair_agreement(a, [0], [1], [0.1] * 3, other=b, permute_b=perm)[0]
    assert mirrored == pytest.approx(agreement_oks(xy[0], v[0], 50.0, xy[3][perm], v[3], 80.0, [0.1] * 3)[0])
