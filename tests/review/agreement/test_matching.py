"""Hungarian matching: per image and batched over many images."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import linear_sum_assignment

from review.agreement import COCO_SIGMAS, assign_blocks, match_instances, match_sources

from ._helpers import PROPERTY, simulated


def _best_total(sim: np.ndarray, threshold: float) -> float:
    gated = np.where(sim >= threshold, sim, 0.0)
    if gated.size == 0:
        return 0.0
    r, c = linear_sum_assignment(gated, maximize=True)
    return float(gated[r, c].sum())


@PROPERTY
@given(arrays(np.float64, st.tuples(st.integers(0, 7), st.integers(0, 7)),
              elements=st.one_of(st.just(0.0), st.floats(0, 1))),
       st.sampled_from([0.3, 0.5, 0.7]))
def test_match_instances_is_an_optimal_thresholded_assignment(sim, threshold):
    m = match_instances(sim, threshold)
    assert len(set(m.rows)) == len(m.rows) and len(set(m.cols)) == len(m.cols)  # one-to-one
    assert np.all(m.similarity >= threshold)
    assert m.similarity.sum() == pytest.approx(_best_total(sim, threshold), abs=1e-12)
    assert sorted(np.r_[m.rows, m.unmatched_rows]) == list(range(sim.shape[0]))
    assert sorted(np.r_[m.cols, m.unmatched_cols]) == list(range(sim.shape[1]))


def test_match_instances_trivial_cases():
    assert match_instances(np.zeros((0, 3))).unmatched_cols.tolist() == [0, 1, 2]
    assert match_instances([[0.9]]).rows.tolist() == [0]
    assert match_instances([[0.4]]).unmatched_rows.tolist() == [0]
    # an impossible pair must not displace a possible one
    m = match_instances([[0.9, 0.55], [0.4, 0.0]], 0.5)
    assert list(zip(m.rows, m.cols)) == [(0, 0)]


def test_assign_blocks_solves_every_block_optimally():
    rng = np.random.default_rng(0)
    blocks, rows, cols, sims, mats = [], [], [], [], []
    for b in range(400):  # shapes up to 9 x 9: enumeration and the scipy path both run
        m, n = rng.integers(0, 10, 2)
        sim = rng.uniform(0, 1, (m, n)) * (rng.random((m, n)) < 0.8)
        mats.append(sim)
        r, c = np.nonzero(sim > 0)
        blocks.append(np.full(r.size, b))
        rows.append(1000 + 7 * r)  # arbitrary keys
        cols.append(c * 13 - 50)
        sims.append(sim[r, c])
    block, row, col, sim = (np.concatenate(x) for x in (blocks, rows, cols, sims))
    perm = rng.permutation(block.size)  # any entry order
    hit = assign_blocks(block[perm], row[perm], col[perm], sim[perm], 0.4)
    totals = np.bincount(block[perm][hit], weights=sim[perm][hit], minlength=400)
    for b, m in enumerate(mats):
        assert totals[b] == pytest.approx(_best_total(m, 0.4), abs=1e-9)
    keys = list(zip(block[perm][hit], row[perm][hit])) + list(zip(block[perm][hit], col[perm][hit] + 10**6))
    assert len(keys) == len(set(keys))


def test_match_sources_pairs_each_annotators_copy_of_a_person():
    sim = simulated(300, miss_instance_rate=0.05)
    m = match_sources(sim.batch, 0, 1, COCO_SIGMAS)
    assert np.mean(sim.truth_of[m.a] == sim.truth_of[m.b]) == 1.0
    assert np.all(m.similarity >= 0.5)
    # persons drawn by both annotators are matched, the others reported unmatched
    t0 = set(sim.truth_of[sim.batch.source == 0])
    t1 = set(sim.truth_of[sim.batch.source == 1])
    assert len(m.a) >= 0.98 * len(t0 & t1)
    assert set(sim.truth_of[m.unmatched_a]) >= t0 - t1
