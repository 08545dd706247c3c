"""Learned sigmas: COCO's sigmas recovered from simulated redundant annotations."""

import numpy as np

from review.agreement import COCO_PERSON, COCO_SIGMAS, Skeleton, estimate_sigmas, run_pipeline

from ._helpers import simulated


def test_recovers_coco_sigmas_within_ten_percent_despite_swaps_and_gross_errors():
    """Annotators drawn with COCO's sigmas; 2% left/right errors and 1% gross clicks."""
    sim = simulated(2500, swap_rate=0.02, mirror_fraction=0.3, outlier_rate=0.01, seed=21)
    result = run_pipeline(sim.batch, COCO_PERSON)
    est = result.sigmas
    np.testing.assert_allclose(est.sigma, COCO_SIGMAS, rtol=0.10)
    assert np.all(est.count > 5000)
    assert np.all(est.low < est.sigma) and np.all(est.sigma < est.high)
    assert np.all((est.high - est.low) / est.sigma < 0.05)  # ~15,000 pairs per keypoint: tight intervals


def test_estimator_is_unbiased_without_contamination():
    """Clean Gaussian errors: every sigma within 4% (the estimator itself has no bias)."""
    sim = simulated(2000, miss_keypoint_rate=0.0, seed=22)
    _, a, b = run_pipeline(sim.batch, COCO_PERSON).consensus.clusters.member_pairs()
    est = estimate_sigmas(sim.batch, a, b)
    np.testing.assert_allclose(est.sigma, COCO_SIGMAS, rtol=0.04)
    assert np.mean((est.low <= COCO_SIGMAS) & (COCO_SIGMAS <= est.high)) >= 0.8  # 95% intervals


def test_any_skeleton():
    """A five-keypoint skeleton COCO never saw, with its own sigmas."""
    sk = Skeleton(sigmas=[0.02, 0.05, 0.05, 0.12, 0.08], flip_pairs=[(1, 2)], edges=[(0, 1), (0, 2), (3, 4)])
    sim = simulated(2000, skeleton=sk, seed=23)
    result = run_pipeline(sim.batch, sk)
    np.testing.assert_allclose(result.sigmas.sigma, sk.sigmas, rtol=0.10)


def test_too_few_observations_give_nan():
    sim = simulated(3, seed=24)
    _, a, b = run_pipeline(sim.batch, COCO_PERSON).consensus.clusters.member_pairs()
    est = estimate_sigmas(sim.batch, a, b, min_count=10_000)
    assert np.isnan(est.sigma).all() and np.all(est.count < 10_000)
    empty = estimate_sigmas(sim.batch, [], [])
    assert np.isnan(empty.sigma).all() and not empty.count.any()
