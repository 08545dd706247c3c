"""Shared test helpers: hypothesis settings, small simulated projects, truth matching."""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
from hypothesis import HealthCheck, settings

from review.agreement import COCO_PERSON, run_pipeline
from review.agreement.simulate import simulate_project

#: Property tests: enough cases to hit edge cases, no example database on disk.
#: CI replays a fixed sequence (a red CI blocks a landing, so it must be
#: reproducible); local runs explore new cases every time.
PROPERTY = settings(max_examples=200, deadline=None, database=None, derandomize=bool(os.environ.get("CI")),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@lru_cache(maxsize=8)
def simulated(n_images: int = 600, **kwargs):
    """A cached simulated project (frozen dataclasses: safe to share)."""
    return simulate_project(n_images, **dict(kwargs))


@lru_cache(maxsize=8)
def simulated_run(n_images: int = 600, **kwargs):
    """(project, pipeline result) for a cached simulated project."""
    sim = simulated(n_images, **kwargs)
    return sim, run_pipeline(sim.batch, COCO_PERSON, image_size=sim.image_size)


def normalized_errors(xy, v, truth, truth_index, sigmas) -> np.ndarray:
    """Distances to the truth in units of sigma_k * s, over keypoints labeled on both sides.

    Parameters
    ----------
    xy : (R, K, 2); v : (R, K); truth : InstanceBatch; truth_index : (R,)
    """
    t = truth.xy[truth_index]
    d = np.hypot(*(xy - t).transpose(2, 0, 1)) / (np.sqrt(truth.area[truth_index])[:, None] * sigmas)
    return d[(v > 0) & (truth.v[truth_index] > 0)]
