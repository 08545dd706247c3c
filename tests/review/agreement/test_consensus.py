"""Geometric median, clustering, consensus, leave-one-out, and the proof that
the consensus beats single annotators and CVAT-style medoids."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import minimize

from review.agreement import (COCO_PERSON, COCO_SIGMAS, Clusters, InstanceBatch, build_consensus,
                              cluster_instances, consensus_from_clusters, geometric_median, instance_pairs,
                              leave_one_out, pair_agreement, run_pipeline, weighted_mean)

from ._helpers import PROPERTY, normalized_errors, simulated


def _objective(p, w, c):
    return float((w * np.hypot(*(p - c).T)).sum())


@PROPERTY
@given(st.integers(1, 6).flatmap(lambda m: st.tuples(
    arrays(np.float64, (m, 2), elements=st.floats(-100, 100, allow_nan=False)),
    arrays(np.float64, m, elements=st.one_of(st.just(1.0), st.floats(0.1, 5))))))
def test_geometric_median_minimizes_the_sum_of_distances(case):
    p, w = case
    c = geometric_median(p, w)
    scale = 1 + np.abs(p).max()
    f = _objective(p, w, c)
    # a local search from the answer, and one from the mean, find nothing better
    for start, step in ((c, 1e-3 * scale), ((w[:, None] * p).sum(0) / w.sum(), 0.1 * scale)):
        simplex = start + np.array([[0, 0], [step, 0], [0, step]])
        best = minimize(lambda y: _objective(p, w, y), start, method="Nelder-Mead",
                        options=dict(xatol=1e-10, fatol=1e-12, maxiter=4000, initial_simplex=simplex))
        assert f <= best.fun + 1e-8 * scale


def test_geometric_median_closed_forms():
    # two points: the midpoint; weighted: the heavier point
    np.testing.assert_allclose(geometric_median([[0, 0], [2, 0]]), [1, 0])
    np.testing.assert_allclose(geometric_median([[0, 0], [2, 0]], [1, 3]), [2, 0])
    # collinear triple: the middle point; an angle of 120 degrees or more: that vertex
    np.testing.assert_allclose(geometric_median([[0, 0], [1, 0], [5, 0]]), [1, 0])
    np.testing.assert_allclose(geometric_median([[0, 0], [1, 0], [-0.6, 0.2]]), [0, 0], atol=1e-12)
    # a coincident pair wins against a third point
    np.testing.assert_allclose(geometric_median([[3, 3], [3, 3], [9, 0]]), [3, 3])
    # equilateral triangle: its center
    tri = np.array([[0, 0], [2, 0], [1, np.sqrt(3)]])
    np.testing.assert_allclose(geometric_median(tri), [1, np.sqrt(3) / 3], atol=1e-12)
    # absent points (weight 0) may be NaN; empty sets give NaN
    got = geometric_median([[[0, 0], [4, 0], [np.nan, np.nan]], [[np.nan, np.nan]] * 3], [[1, 1, 0], [0, 0, 0]])
    np.testing.assert_allclose(got[0], [2, 0])
    assert np.isnan(got[1]).all()
    # a clicking mistake barely moves the median; it drags the mean
    pts = np.array([[0, 0], [1, 0], [0.5, 0.5], [100, 100]])
    assert np.hypot(*geometric_median(pts)) < 1.5 < np.hypot(*weighted_mean(pts))


def test_clusters_hold_one_instance_per_annotator_and_only_similar_pairs():
    sim = simulated(400, miss_instance_rate=0.05, extra_instance_rate=0.2, outlier_rate=0.02)
    b = sim.batch
    a, c = instance_pairs(b.image, b.source)
    s = pair_agreement(b, a, c, COCO_SIGMAS)
    cl = cluster_instances(b, a, c, s, threshold=0.5)
    assert np.array_equal(np.sort(cl.members[cl.members >= 0]), np.arange(len(b)))  # a partition
    for slot in range(cl.members.shape[1]):
        rows = cl.members[:, slot] >= 0
        assert np.all(cl.of[cl.members[rows, slot]] == np.flatnonzero(rows))
    src = np.where(cl.members >= 0, b.source[np.maximum(cl.members, 0)], -1 - np.arange(cl.members.shape[1]))
    assert all(len(set(row)) == len(row) for row in src.tolist())  # never two from one annotator
    _, pa, pb = cl.member_pairs()
    assert np.all(pair_agreement(b, pa, pb, COCO_SIGMAS) >= 0.5)  # complete linkage
    assert np.all(b.image[pa] == b.image[pb])
    real = cl.members[:, 0] >= 0
    truth = np.where(cl.members >= 0, sim.truth_of[np.maximum(cl.members, 0)], -2)
    pure = [len(set(t[t != -2])) == 1 for t in truth[real]]
    assert np.mean(pure) > 0.99


def test_votes_ties_and_quorum():
    k = 3
    xy = np.zeros((3, k, 2))
    xy[:, :, 0] = [[10, 20, 30], [11, 21, 31], [12, 22, 32]]
    v = np.array([[2, 2, 1], [2, 0, 1], [1, 0, 2]])
    b = InstanceBatch(xy=xy, v=v, bbox=np.tile([0, 0, 40, 10], (3, 1)), area=[400.0] * 3,
                      image=[0, 0, 0], source=[0, 1, 2])
    con = build_consensus(b, [0.1] * k)
    assert len(con) == 1 and con.accepted[0] and con.support[0] == 3
    np.testing.assert_array_equal(con.v[0], [2, 0, 1])  # majority labeled / visible-vs-occluded
    np.testing.assert_allclose(con.xy[0, 0], [11, 0])  # median of three collinear points
    assert np.isnan(con.spread[0, 1]) and con.n_labeled[0].tolist() == [3, 1, 3]
    # two annotators disagreeing: ties count as labeled and visible
    two = InstanceBatch(xy=xy[:2], v=[[2, 2, 1], [1, 0, 2]], bbox=b.bbox[:2], area=[400.0] * 2,
                        image=[0, 0], source=[0, 1])
    np.testing.assert_array_equal(build_consensus(two, [0.1] * k).v[0], [2, 2, 2])
    # quorum: a person drawn by one of three annotators is not accepted, unless the quorum is 1
    lone = InstanceBatch(xy=np.vstack([xy, xy[:1] + 300]), v=np.vstack([v, v[:1]]),
                         bbox=np.vstack([b.bbox, [[300, 300, 40, 10]]]), area=[400.0] * 4,
                         image=[0] * 4, source=[0, 1, 2, 0])
    con = build_consensus(lone, [0.1] * k)
    assert sorted(con.support.tolist()) == [1, 3] and con.accepted.tolist() == (con.support == 3).tolist()
    assert build_consensus(lone, [0.1] * k, quorum=1).accepted.all()


def test_leave_one_out_is_the_consensus_of_the_others():
    sim = simulated(120, n_annotators=4, miss_instance_rate=0.15, outlier_rate=0.05, miss_keypoint_rate=0.1)
    b = sim.batch
    a, c = instance_pairs(b.image, b.source)
    cl = cluster_instances(b, a, c, pair_agreement(b, a, c, COCO_SIGMAS))
    for method, weights in (("median", None), ("mean", np.array([1.0, 2.0, 0.5, 1.5])), ("median", [1, 2, 1, 1.0])):
        con, loo = consensus_from_clusters(b, cl, COCO_SIGMAS, method=method, weights=weights,
                                           with_leave_one_out=True)
        alone = leave_one_out(b, cl, COCO_SIGMAS, method=method, weights=weights)
        np.testing.assert_array_equal(alone.reference.xy, loo.reference.xy)
        assert np.all(b.source[loo.instance] == loo.reference.source)
        for q in range(0, len(loo), 7):
            others = [m for m in cl.members[loo.cluster[q]] if m >= 0 and m != loo.instance[q]]
            one = Clusters(of=np.zeros(len(b), np.int64), members=np.array([others]),
                           image=np.array([b.image[others[0]]]), support=np.array([len(others)]))
            ref = consensus_from_clusters(b, one, COCO_SIGMAS, method=method, weights=weights)
            np.testing.assert_array_equal(ref.v[0], loo.reference.v[q])
            np.testing.assert_allclose(ref.xy[0], loo.reference.xy[q], atol=1e-6)
            np.testing.assert_allclose(ref.instances.area[0], loo.reference.area[q])
            np.testing.assert_allclose(loo.others_labeled[q], b.labeled[others].mean(0))


def _medoid(batch, clusters):
    """CVAT's choice: the member agreeing most with the others, kept as is."""
    _, pa, pb = clusters.member_pairs()
    s = pair_agreement(batch, pa, pb, COCO_SIGMAS)
    score = np.bincount(pa, weights=s, minlength=len(batch)) + np.bincount(pb, weights=s, minlength=len(batch))
    m = clusters.members
    return m[np.arange(len(m)), np.argmax(np.where(m >= 0, score[np.maximum(m, 0)], -1), axis=1)]


@pytest.mark.parametrize("seed", [3, 11])
def test_consensus_is_closer_to_the_truth_than_any_annotator_and_the_medoid(seed):
    """Three annotators of unequal skill (noise 0.8, 1, 1.2 x COCO) and 3% gross clicks."""
    sim = simulated(800, noise=(0.8, 1.0, 1.2), outlier_rate=0.03, seed=seed)
    b, truth = sim.batch, sim.truth
    result = run_pipeline(b, COCO_PERSON)
    con, cl = result.consensus, result.consensus.clusters
    obj = sim.truth_of[cl.members[:, 0]]
    keep = con.accepted & (obj >= 0)

    def error(xy, v, t):
        return normalized_errors(xy, v, truth, t, COCO_SIGMAS).mean()

    consensus = error(con.xy[keep], con.v[keep], obj[keep])
    singles = [error(b.xy[i], b.v[i], sim.truth_of[i])
               for i in (np.flatnonzero((b.source == s) & (sim.truth_of >= 0)) for s in range(3))]
    medoid = _medoid(b, cl)[keep]
    medoid_error = error(b.xy[medoid], b.v[medoid], obj[keep])
    assert consensus < 0.8 * min(singles)  # better than the best annotator, by a margin
    assert consensus < 0.8 * medoid_error  # an estimate beats picking one annotator's skeleton
    weighted = run_pipeline(b, COCO_PERSON, method="weighted_mean").consensus
    assert error(weighted.xy[keep], weighted.v[keep], obj[keep]) < min(singles)


def test_spread_measures_annotator_scatter_in_sigma_units():
    """With COCO-level noise the labelers' RMS distance to their consensus is about 1 sigma."""
    sim = simulated(300, noise=1.0, miss_keypoint_rate=0.0, seed=5)
    con = run_pipeline(sim.batch, COCO_PERSON).consensus
    spread = con.spread[con.accepted & (con.support == 3)]
    # E|x - median of 3|^2 is below E|x - truth|^2 = sigma^2 s^2: the consensus sits among them
    assert 0.6 < np.nanmedian(spread) < 1.0
