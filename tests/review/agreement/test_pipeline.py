"""The whole pipeline, its input/output plumbing, image agreement, PCK and summaries."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from review.agreement import (COCO_PERSON, COCO_SIGMAS, InstanceBatch, compute_pck, image_agreement,
                              pair_pck, run_pipeline, summarize)

from ._helpers import simulated, simulated_run

PACKAGE = Path(__file__).resolve().parents[3] / "review" / "agreement"


def test_kernels_never_import_django():
    for path in PACKAGE.glob("*.py"):
        text = path.read_text()
        assert "import django" not in text and "from django" not in text, path.name
    code = ("import sys, review.agreement, review.agreement.simulate; "
            "sys.exit(any(m == 'django' or m.startswith('django.') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parents[1]).returncode == 0


def test_pipeline_outputs_have_documented_shapes():
    sim, r = simulated_run(300, miss_instance_rate=0.05, extra_instance_rate=0.1, swap_rate=0.05)
    b = sim.batch
    n, k, n_img, n_src = len(b), b.num_keypoints, b.n_images, b.n_sources
    con = r.consensus
    c = len(con)
    assert con.xy.shape == (c, k, 2) and con.v.shape == (c, k) and con.spread.shape == (c, k)
    assert con.clusters.of.shape == (n,) and con.support.sum() == n
    assert r.images.agreement.shape == (n_img,) and r.images.keypoint.shape == (n_img, k)
    assert r.reliability.oks.shape == (n_src,) and r.reliability.bias.shape == (n_src, k, 2)
    assert r.instance_oks.shape == (n,) and r.sigmas.sigma.shape == (k,)
    assert set(r.timings) >= {"agreement", "matching", "consensus", "checks", "reliability", "total"}
    assert r.n_pairs > n
    assert np.nanmean(r.images.agreement) > 0.6
    assert np.all(con.v[~np.isnan(con.spread)] > 0)


def test_input_order_does_not_matter():
    sim = simulated(150, miss_instance_rate=0.05, swap_rate=0.05)
    b = sim.batch
    perm = np.random.default_rng(0).permutation(len(b))
    shuffled = b.take(perm)
    assert not shuffled.is_sorted
    ref = run_pipeline(b, COCO_PERSON)
    got = run_pipeline(shuffled, COCO_PERSON)
    # positions in results refer to the batch as passed in
    np.testing.assert_allclose(got.instance_oks, ref.instance_oks[perm])
    same_object = ref.consensus.clusters.of[perm]
    pairs = got.consensus.clusters.of[:, None] == got.consensus.clusters.of[None, :]
    assert np.array_equal(pairs, same_object[:, None] == same_object[None, :])
    flags = lambda r, ids: sorted(zip(r.flags.code.tolist(), ids[r.flags.instance].tolist(),  # noqa: E731
                                      r.flags.keypoint.tolist()))
    assert flags(got, shuffled.ids) == flags(ref, b.ids)
    np.testing.assert_allclose(got.images.agreement, ref.images.agreement, equal_nan=True)


def test_from_coco_dicts():
    sim = simulated(20)
    b = sim.batch
    anns = [{"id": 1000 + i, "image_id": f"img-{b.image[i]:03d}", "annotator": ["ann", "bob", "cy"][b.source[i]],
             "keypoints": np.c_[b.xy[i], b.v[i]].ravel().tolist(), "bbox": b.bbox[i].tolist(),
             "area": None if i % 2 else float(b.area[i])} for i in range(len(b))]
    got = InstanceBatch.from_coco(anns, source_key="annotator", num_keypoints=17)
    np.testing.assert_array_equal(got.xy, b.xy)
    np.testing.assert_array_equal(got.v, b.v)
    np.testing.assert_allclose(got.area, np.where(np.arange(len(b)) % 2, b.bbox[:, 2] * b.bbox[:, 3], b.area))
    assert got.image_ids[got.image[5]] == anns[5]["image_id"] and got.source_ids.tolist() == ["ann", "bob", "cy"]
    assert got.ids[3] == 1003
    result = run_pipeline(got, COCO_PERSON)
    records = result.flags.to_records(got)
    assert all(r["instance"] >= 1000 and str(r["image"]).startswith("img-") for r in records)


def _person(k=6):
    return np.array([[10.0, 10], [30, 12], [50, 30], [20, 60], [40, 80], [30, 40]])[:k]


def test_image_agreement_counts_a_missed_person_as_disagreement():
    # image 0: annotators 0 and 1 draw the same person, annotator 2 draws nothing
    # image 1: all three draw it identically
    p = _person()
    xy = np.stack([p, p, p, p, p])
    b = InstanceBatch(xy=xy, v=np.full((5, 6), 2), bbox=np.tile([0.0, 0, 60, 90], (5, 1)), area=[5400.0] * 5,
                      image=[0, 0, 1, 1, 1], source=[0, 1, 0, 1, 2], n_sources=3)
    everyone = ([0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2])
    r = run_pipeline(b, COCO_PERSON.coerce([0.05] * 6), assignments=everyone)
    np.testing.assert_allclose(r.images.agreement, [1 / 3, 1.0])  # pairs (0,1)=1, (0,2)=0, (1,2)=0
    np.testing.assert_allclose(r.images.keypoint, [[1 / 3] * 6, [1.0] * 6])
    np.testing.assert_allclose(r.images.visibility, [1.0, 1.0])
    # without the assignment, annotator 2 is not known to have seen image 0
    alone = image_agreement(b, r.consensus.clusters, [0.05] * 6)
    np.testing.assert_allclose(alone.agreement, [1.0, 1.0])


def test_pck():
    ref = _person(3)
    other = ref + [[1.0, 0], [0, 5.0], [0, 0]]
    pck, correct = compute_pck(ref, [2, 2, 0], [0, 0, 40, 20], other, threshold=0.1)  # tolerance 4 px
    assert pck == 0.5 and correct[0] == 1 and correct[1] == 0 and np.isnan(correct[2])
    b = InstanceBatch(xy=np.stack([ref, other]), v=[[2, 2, 0], [2, 0, 2]], bbox=[[0, 0, 40, 20]] * 2,
                      area=[800.0] * 2, image=[0, 0], source=[0, 1])
    assert pair_pck(b, [0], [1], 0.1)[0] == 0.5  # keypoint 1 unlabeled by the other: wrong


def test_summary_is_json_ready():
    sim, r = simulated_run(300, miss_instance_rate=0.05, extra_instance_rate=0.1, swap_rate=0.05)
    s = summarize(r, COCO_PERSON)
    assert s.histogram.sum() == s.images_scored == np.isfinite(r.images.agreement).sum()
    assert list(s.keypoints["name"]) == list(COCO_PERSON.names)
    np.testing.assert_allclose(s.keypoints["sigma"], COCO_SIGMAS)
    assert 0 < s.agreement < 1 and 0 < s.visibility_agreement <= 1
    d = json.loads(json.dumps(s.to_dict()))
    assert set(d["flags"]) >= {"left_right_swap", "outside_box"} and len(d["annotators"]["oks"]) == 3


def test_weighted_consensus_uses_reliability():
    sim = simulated(300, noise=(0.5, 1.0, 2.0), seed=12)
    r = run_pipeline(sim.batch, COCO_PERSON, method="weighted_mean")
    w = r.reliability.weight
    assert w[0] > w[1] > w[2]
    with pytest.raises(ValueError):
        run_pipeline(sim.batch, COCO_PERSON, method="medoid")


def test_empty_and_tiny_batches():
    empty = InstanceBatch(xy=np.zeros((0, 17, 2)), v=np.zeros((0, 17)), bbox=np.zeros((0, 4)), area=np.zeros(0),
                          image=np.zeros(0, int), source=np.zeros(0, int), n_images=2, n_sources=2)
    r = run_pipeline(empty, COCO_PERSON)
    assert len(r.consensus) == 0 and len(r.flags) == 0 and np.isnan(r.images.agreement).all()
    one = simulated(1, n_annotators=1, people=(1, 1)).batch
    r = run_pipeline(one, COCO_PERSON)
    assert len(r.consensus) == 1 and r.consensus.accepted.all() and np.isnan(r.instance_oks).all()
