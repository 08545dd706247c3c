"""Consensus that survives real annotators: swaps, misses, sloppy and biased people.

Simulated projects with known truth and fixed seeds. "Today's pipeline" is
``method="median", orient=False``: the geometric median over the clusters,
members averaged as drawn (the engine before orientation and learned noise).
"""

import numpy as np
import pytest

from review.agreement import COCO_PERSON, AnnotatorHistory, InstanceBatch, run_pipeline
from review.agreement.simulate import MIXED_WORKFORCE, SWAP_SCENARIOS

from ._helpers import simulated

SIGMAS = COCO_PERSON.sigmas
HIPS_AND_KNEES = (11, 12, 13, 14)
MIXED = MIXED_WORKFORCE
LEGACY = dict(method="median", orient=False)


@pytest.mark.parametrize("seed", [1, 2])
def test_consensus_error_is_15_percent_lower_than_todays_on_a_mixed_workforce(seed):
    sim = simulated(500, seed=seed, **MIXED)
    before = sim.consensus_error(run_pipeline(sim.batch, COCO_PERSON, **LEGACY).consensus)
    after = sim.consensus_error(run_pipeline(sim.batch, COCO_PERSON).consensus)
    assert after <= 0.85 * before, (after, before)
    corrected = run_pipeline(sim.batch, COCO_PERSON, subtract_offsets=True)
    assert corrected.offsets_subtracted and sim.consensus_error(corrected.consensus) < after


def test_consensus_error_is_not_worse_than_todays_when_annotators_are_alike():
    sim = simulated(500, n_annotators=5, seed=3)
    before = sim.consensus_error(run_pipeline(sim.batch, COCO_PERSON, **LEGACY).consensus)
    after = sim.consensus_error(run_pipeline(sim.batch, COCO_PERSON).consensus)
    assert after <= before


def test_noise_model_finds_the_sloppy_annotator_and_the_biased_ones_offset():
    sim = simulated(500, seed=1, **MIXED)
    noise = run_pipeline(sim.batch, COCO_PERSON).noise
    spread = np.median(noise.var, axis=1)
    np.testing.assert_allclose(spread, [1, 1, 4, 1, 1], rtol=0.2)
    assert np.argmax(spread) == 2
    dy = noise.offset[4, :, 1]
    assert np.all(np.abs(dy[list(HIPS_AND_KNEES)] - 1.2) < 0.2)  # too low, where it is
    assert np.all(np.abs(np.delete(noise.offset[4], HIPS_AND_KNEES, axis=0)) < 0.2)  # and nowhere else
    assert np.all(np.abs(noise.offset[:4]) < 0.2)  # nobody else blamed
    rel = run_pipeline(sim.batch, COCO_PERSON).reliability
    findings = rel.bias_findings(COCO_PERSON.names, source_ids=np.array([11, 12, 13, 14, 15]))
    assert {f["name"] for f in findings} == {"left_hip", "right_hip", "left_knee", "right_knee"}
    assert {f["annotator"] for f in findings} == {15} and all("too low" in f["text"] for f in findings)


SWAP_IMAGES = {"two-member clusters": 1000, "next to a sloppy annotator": 600, "mixed workforce": 800}


@pytest.mark.parametrize("scenario", list(SWAP_SCENARIOS))
@pytest.mark.parametrize("seed", [4, 5])
def test_swap_flags_are_98_percent_precise_and_complete_and_land_on_the_swapper(scenario, seed):
    """Judged on every person drawn by two annotators or more, whatever the clustering made of them."""
    options = SWAP_SCENARIOS[scenario]
    sim = simulated(SWAP_IMAGES[scenario], seed=seed, **options)
    result = run_pipeline(sim.batch, COCO_PERSON)
    precision, recall, tp = sim.swap_scores(result.flags)
    assert tp > 600 and precision >= 0.98 and recall >= 0.98, (precision, recall, tp)
    swapper = np.flatnonzero(np.asarray(options["swap_rate"]) > 0)[0]
    flagged = sim.batch.source[result.flags.where("left_right_swap").instance]
    assert np.mean(flagged == swapper) >= 0.98  # the swapper, not the people around them


def test_todays_check_blames_the_sloppy_annotator():
    sim = simulated(SWAP_IMAGES["mixed workforce"], seed=4, **SWAP_SCENARIOS["mixed workforce"])
    precision = sim.swap_scores(run_pipeline(sim.batch, COCO_PERSON).flags)[0]
    legacy = run_pipeline(sim.batch, COCO_PERSON, **LEGACY)
    assert precision > sim.swap_scores(legacy.flags)[0] + 0.1
    assert np.mean(sim.batch.source[legacy.flags.where("left_right_swap").instance] == 2) > 0.02


@pytest.mark.parametrize("seed", [4, 5])
def test_two_member_clusters_flag_the_swapper_and_stay_undecided(seed):
    """Many people are drawn by two: the history settles them, and they are marked undecided."""
    sim = simulated(SWAP_IMAGES["two-member clusters"], seed=seed, **SWAP_SCENARIOS["two-member clusters"])
    result = run_pipeline(sim.batch, COCO_PERSON)
    cl = result.consensus.clusters
    f = result.flags.where("left_right_swap")
    two = cl.support[cl.of[f.instance]] == 2
    assert two.sum() > 100
    assert np.mean(sim.batch.source[f.instance[two]] == 1) >= 0.97  # on the swapper, not the partner
    undecided = result.consensus.undecided
    assert undecided.any() and np.mean(cl.support[undecided] == 2) > 0.9  # no third opinion


def test_a_mirrored_person_next_to_a_sloppy_annotator_is_still_one_object():
    sim = simulated(SWAP_IMAGES["next to a sloppy annotator"], seed=4, **SWAP_SCENARIOS["next to a sloppy annotator"])
    result = run_pipeline(sim.batch, COCO_PERSON)
    mirrored = np.flatnonzero(sim.exchanged.all(1))
    cl = result.consensus.clusters
    assert mirrored.size > 100
    assert np.mean(cl.support[cl.of[mirrored]] >= 2) >= 0.99  # never alone, so it is checked
    flagged = set(result.flags.where("left_right_swap").instance.tolist())
    assert np.mean([m in flagged for m in mirrored.tolist()]) >= 0.98


def test_no_consensus_pair_collapses_onto_the_center_line():
    """Two annotators, one of whom mirrors 20% of people: no consensus left/right pair may be
    narrower than the true pair by more than noise (today's midpoint puts both on the center line)."""
    sim = simulated(300, n_annotators=2, swap_rate=0.2, mirror_fraction=1.0, seed=8)
    result = run_pipeline(sim.batch, COCO_PERSON)
    obj, truth = sim.true_objects(result.consensus)
    con, t = result.consensus, sim.truth
    fi, fj = COCO_PERSON.flip_pairs.T
    width = lambda xy: np.hypot(*(xy[:, fi] - xy[:, fj]).transpose(2, 0, 1))  # noqa: E731
    both = (con.v[obj][:, fi] > 0) & (con.v[obj][:, fj] > 0) & (t.v[truth][:, fi] > 0) & (t.v[truth][:, fj] > 0)
    noise = 3.5 * SIGMAS[fi] * np.sqrt(t.area[truth])[:, None]  # 5 standard deviations of the width's error
    narrower = width(t.xy[truth]) - width(con.xy[obj])
    assert both.sum() > 1000
    assert np.all(narrower[both] <= noise[both])


def test_an_annotator_who_skips_30_percent_ranks_last():
    sim = simulated(600, n_annotators=4, miss_instance_rate=(0, 0, 0, 0.3), seed=9)
    everyone = (np.repeat(np.arange(600), 4), np.tile(np.arange(4), 600))
    rel = run_pipeline(sim.batch, COCO_PERSON, assignments=everyone).reliability
    assert np.argmin(rel.oks) == 3 and rel.oks[3] < rel.oks[:3].min() - 0.1
    assert np.argmin(rel.weight) == 3
    assert rel.recall[3] == pytest.approx(0.7, abs=0.05) and np.all(rel.recall[:3] > 0.97)


def test_someone_who_draws_nothing_is_never_the_most_reliable():
    sim = simulated(100, n_annotators=2, seed=10)
    everyone = (np.repeat(np.arange(100), 3), np.tile(np.arange(3), 100))  # annotator 2 drew nothing
    b = sim.batch
    batch = InstanceBatch(xy=b.xy, v=b.v, bbox=b.bbox, area=b.area, image=b.image, source=b.source, n_sources=3)
    rel = run_pipeline(batch, COCO_PERSON, assignments=everyone).reliability
    assert rel.weight[2] == 0 and rel.oks[2] == 0 and rel.missed[2] == len(sim.truth)


def _three_annotators(mirror=True, third_opinion=False):
    """One person: annotator 0 drew nothing (or, as a third opinion, the person), 1 was right, 2 mirrored it."""
    sim = simulated(1, n_annotators=3, people=(1, 1), noise=0.5, miss_keypoint_rate=0.0, visibility_flip_rate=0.0,
                    seed=11)
    b = sim.batch
    xy, v = b.xy.copy(), b.v.copy()
    perm = COCO_PERSON.flip_permutation
    if mirror:
        xy[2], v[2] = xy[2, perm], v[2, perm]
    keep = [0, 1, 2] if third_opinion else [1, 2]
    batch = InstanceBatch(xy=xy[keep], v=v[keep], bbox=b.bbox[keep], area=b.area[keep], image=b.image[keep],
                          source=b.source[keep], n_sources=3)
    return sim, batch


def test_the_three_annotator_example_follows_the_reliable_annotator():
    sim, batch = _three_annotators()
    history = AnnotatorHistory(checked=np.array([300, 300, 300]), swapped=np.array([0, 1, 40]))  # 2 swaps often
    result = run_pipeline(batch, COCO_PERSON, assignments=([0, 0, 0], [0, 1, 2]), history=history)
    con = result.consensus
    assert len(con) == 1 and con.accepted[0] and con.undecided[0]
    right = batch.xy[0]  # annotator 1's skeleton
    scale = SIGMAS * np.sqrt(sim.truth.area[0])
    assert np.all(np.hypot(*(con.xy[0] - right).T) < 2 * scale)  # within noise of the right skeleton
    f = result.flags.where("left_right_swap")
    assert len(f) >= 6 and set(batch.source[f.instance].tolist()) == {2}  # the swapper only
    assert list(zip(*[a.tolist() for a in result.missed])) == [(0, 0)]  # annotator 0 missed person 0
    assert result.reliability.weight[0] == 0

    # the other way round: the history says annotator 1 swaps; then 1 is blamed, still undecided
    blame = AnnotatorHistory(checked=np.array([300, 300, 300]), swapped=np.array([0, 40, 1]))
    f = run_pipeline(batch, COCO_PERSON, assignments=([0, 0, 0], [0, 1, 2]), history=blame).flags
    assert set(batch.source[f.where("left_right_swap").instance].tolist()) == {1}


def test_a_third_opinion_settles_the_orientation():
    _, batch = _three_annotators(third_opinion=True)
    result = run_pipeline(batch, COCO_PERSON)
    assert not result.consensus.undecided.any()
    f = result.flags.where("left_right_swap")
    assert set(batch.source[f.instance].tolist()) == {2}
    np.testing.assert_allclose(result.consensus.xy[0], np.median(batch.xy[:2], axis=0), atol=20)
