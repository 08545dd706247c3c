"""Annotator reliability: leave-one-out OKS, gold, bias, error variance, weights."""

import numpy as np
import pytest

from review.agreement import (COCO_PERSON, COCO_SIGMAS, InstanceBatch, annotator_error_variance, run_pipeline)

from ._helpers import simulated


def test_error_variance_separates_annotators():
    """Three annotators at 0.7, 1.0 and 1.4 x COCO noise: v = noise**2, each within 10%."""
    noise = np.array([0.7, 1.0, 1.4])
    sim = simulated(800, noise=tuple(noise), seed=2)
    result = run_pipeline(sim.batch, COCO_PERSON)
    np.testing.assert_allclose(result.reliability.error_var, noise ** 2, rtol=0.1)
    w = result.reliability.weight
    assert w[0] > w[1] > w[2] and w.mean() == pytest.approx(1.0, abs=0.01)  # times the share drawn


def test_error_variance_of_two_annotators_is_split_evenly():
    """Two annotators only: v_a + v_b is known, not its split; the minimum-norm answer splits it."""
    sim = simulated(300, n_annotators=2, noise=(1.0, 1.0), seed=4)
    _, pa, pb = run_pipeline(sim.batch, COCO_PERSON).consensus.clusters.member_pairs()
    var, n = annotator_error_variance(sim.batch, pa, pb, COCO_SIGMAS)
    np.testing.assert_allclose(var, [1.0, 1.0], rtol=0.1)
    assert n[0] == n[1] > 1000


def test_leave_one_out_oks_ranks_annotators_and_counts_misses():
    sim = simulated(600, noise=(0.7, 1.0, 1.4), miss_instance_rate=0.05, extra_instance_rate=0.05, seed=6)
    everyone = (np.repeat(np.arange(600), 3), np.tile(np.arange(3), 600))  # all annotators see every image
    rel = run_pipeline(sim.batch, COCO_PERSON, assignments=everyone).reliability
    assert rel.oks[0] > rel.oks[1] > rel.oks[2]
    assert rel.matched_oks[0] > rel.matched_oks[1] > rel.matched_oks[2]
    assert rel.pck[0] > rel.pck[2]
    assert np.all(rel.oks < rel.matched_oks)  # misses and rejected instances count 0
    # expected from the truth: a person exists once two of the three annotators drew it
    drew = np.zeros((len(sim.truth), 3), dtype=bool)
    real = sim.truth_of >= 0
    drew[sim.truth_of[real], sim.batch.source[real]] = True
    exists = drew.sum(1) >= 2
    for s in range(3):
        assert rel.missed[s] == pytest.approx(np.count_nonzero(exists & ~drew[:, s]), rel=0.05)
        invented = np.count_nonzero((sim.batch.source == s) & ~real)
        alone = np.count_nonzero(~exists & drew[:, s])
        assert rel.rejected[s] == pytest.approx(invented + alone, abs=4)
    assert rel.missed.sum() > 100 and rel.rejected.sum() > 50


def _three_annotators(offset_dy=0.0, k=5):
    """One image, one person, three annotators; annotator 2 places keypoint 3 `offset_dy` lower."""
    base = np.array([[10.0, 10], [30, 12], [50, 30], [20, 60], [40, 80]])[:k]
    xy = np.stack([base, base + 0.5, base - 0.5])
    xy[2, 3, 1] += offset_dy
    return InstanceBatch(xy=xy, v=np.full((3, k), 2), bbox=np.tile([0.0, 0, 60, 90], (3, 1)),
                         area=[5400.0] * 3, image=[0, 0, 0], source=[0, 1, 2])


def test_an_assigned_annotator_who_drew_nothing_misses_every_object():
    b = _three_annotators()
    two = b.take([0, 1])
    result = run_pipeline(two, COCO_PERSON.coerce([0.05] * 5), assignments=([0, 0, 0], [0, 1, 2]))
    assert result.consensus.accepted.all()  # 2 of 3 assigned: a quorum
    rel = result.reliability
    assert rel.missed.tolist() == [0, 0, 1] if len(rel.missed) == 3 else False
    assert rel.oks[2] == 0.0 and rel.n_scored[2] == 1


def test_systematic_bias_is_reported_in_sigma_units():
    """Annotator 2 places the left hip 0.8 sigma too high on every person."""
    sim = simulated(400, noise=(1.0, 1.0, 1.0), seed=8)
    b = sim.batch
    hip = 11  # left_hip
    unit = np.sqrt(b.area) * COCO_SIGMAS[hip]
    xy = b.xy.copy()
    biased = (b.source == 2) & (b.v[:, hip] > 0)
    xy[biased, hip, 1] -= 0.8 * unit[biased]  # image y grows downwards: "too high"
    shifted = InstanceBatch(xy=xy, v=b.v, bbox=b.bbox, area=b.area, image=b.image, source=b.source)
    rel = run_pipeline(shifted, COCO_PERSON).reliability
    assert rel.bias[2, hip, 1] == pytest.approx(-0.8, abs=0.1)
    assert np.all(np.abs(np.delete(rel.bias[2], hip, axis=0)) < 0.1)
    assert np.all(np.abs(rel.bias[:2]) < 0.1)  # the others are not blamed for annotator 2's habit
    findings = rel.bias_findings(COCO_PERSON.names, source_ids=np.array([501, 502, 503]))
    assert findings[0]["annotator"] == 503 and findings[0]["name"] == "left_hip"
    assert findings[0]["text"].startswith("places left_hip 0.") and "sigma too high" in findings[0]["text"]


def test_gold_scores_against_the_truth():
    sim = simulated(400, noise=(0.7, 1.0, 1.4), seed=9)
    gold_images = np.arange(0, sim.batch.n_images, 4)
    gold = sim.truth.take(np.flatnonzero(np.isin(sim.truth.image, gold_images)))
    rel = run_pipeline(sim.batch, COCO_PERSON, gold=gold).reliability
    assert rel.gold_oks[0] > rel.gold_oks[1] > rel.gold_oks[2]
    people_on_gold = len(gold)
    assert np.all(rel.n_gold >= people_on_gold)  # gold objects, plus unmatched own instances
    assert np.all(rel.n_gold <= people_on_gold * 1.05)
    no_gold = run_pipeline(sim.batch, COCO_PERSON).reliability
    assert np.isnan(no_gold.gold_oks).all() and not no_gold.n_gold.any()
