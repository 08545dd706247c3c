"""Speed of the agreement engine against pycocotools, and of the whole pipeline.

    .venv/bin/python bench/bench_agreement.py                    # 100,000 images, the figures in the README
    .venv/bin/python bench/bench_agreement.py --images 20000 --coco-images 2000 --json bench/out/agreement.json
    .venv/bin/python bench/bench_agreement.py --coco-images 0        # skip pycocotools

Simulated project (fixed seed): 100,000 images, 3 annotators, 1-4 people per
image, 17 COCO keypoints, with realistic mistakes (missed and invented
people, 2% left/right errors, 1% gross clicks).

1. pycocotools: ``COCOeval.computeOks(imgId, catId)``, the function COCO
   evaluation spends its time in, for every annotator pair (annotator A as
   ground truth, B as detections) on the first ``--coco-images`` images
   (datasets built and ``_prepare()``d outside the timer). It scores every
   A-instance x B-instance pair of an image; pairs/s counts those.
2. Jointly, on *all* cross-annotator pairs of all images: the COCO form
   (`pair_oks`, checked equal to pycocotools on the sampled images) and the
   symmetric annotator form the pipeline uses (`pair_agreement`). Best of
   ``--repeat`` runs, as the machine is shared.
3. The full pipeline (`run_pipeline`: agreement, matching, orientation,
   learned noise, consensus, leave-one-out, image agreement, reliability,
   checks, learned sigmas) on all images, with its per-stage timings,
   before and after in the same run: "before" is today's estimator
   (``method="median", orient=False``: the geometric median over the
   clusters, members averaged as drawn, no noise learned), "after" the
   default (orientation, learned per-annotator noise).
4. Consensus error against the simulated truth (sigma units), old and new
   estimator, on a mixed workforce (careful, careful, sloppy at twice the
   noise, a 15% swapper, one biased on hips and knees; 5 annotators) and on
   a uniform one (``--error-images`` images each).
5. Swap flags: precision and recall per (instance, flip pair) against the
   simulated truth, old and new, in each of `simulate.SWAP_SCENARIOS`
   (two-member clusters, next to a sloppy annotator, the mixed workforce),
   fixed seeds, ``--swap-seeds`` projects each.

The machine's load average (``os.getloadavg``, as ``uptime`` prints it) is
printed next to every timing: the figures are only comparable at equal load.

Kernels only: no database, no JSON decoding.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from review.agreement import COCO_PERSON, instance_pairs, pair_agreement, pair_oks, run_pipeline  # noqa: E402
from review.agreement.simulate import MIXED_WORKFORCE, SWAP_SCENARIOS, simulate_project  # noqa: E402

SIGMAS = COCO_PERSON.sigmas
BEFORE = {"method": "median", "orient": False}  # today's estimator, kept callable for this comparison
SWAP_IMAGES = {"two-member clusters": 1000, "next to a sloppy annotator": 600, "mixed workforce": 800}


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def mixed_workforce(n_images: int, seed: int):
    return simulate_project(n_images, seed=seed, **MIXED_WORKFORCE)


def simulate(n_images: int, seed: int):
    return simulate_project(n_images, n_annotators=3, people=(1, 4), noise=(0.8, 1.0, 1.2),
                            miss_instance_rate=0.02, extra_instance_rate=0.01, swap_rate=0.02,
                            mirror_fraction=0.3, outlier_rate=0.01, seed=seed)


def _coco(dataset):
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def pycocotools_run(batch, n_images: int, source_a: int, source_b: int):
    """Time computeOks over the first n_images with A as ground truth and B as detections.

    Returns
    -------
    seconds : float
    pairs : int
        Instance pairs scored (sum over images of |A| x |B|).
    matrices : dict of image -> (D, G) ndarray, pycocotools' output
    """
    from pycocotools.cocoeval import COCOeval

    k = batch.num_keypoints
    cat = {"id": 1, "name": "person", "keypoints": [f"k{i}" for i in range(k)], "skeleton": []}
    images = [{"id": i + 1, "width": 640, "height": 480} for i in range(n_images)]
    kp = np.concatenate([batch.xy, batch.v[..., None].astype(np.float64)], axis=2).reshape(len(batch), -1)

    def anns(source, gt):
        rows = np.flatnonzero((batch.source == source) & (batch.image < n_images))
        out = []
        for n in rows.tolist():
            a = {"id": n + 1, "image_id": int(batch.image[n]) + 1, "category_id": 1,
                 "keypoints": kp[n].tolist(), "bbox": batch.bbox[n].tolist(), "area": float(batch.area[n]),
                 "iscrowd": 0, "num_keypoints": int(np.count_nonzero(batch.v[n]))}
            if not gt:
                a["score"] = 1.0
            out.append(a)
        return out

    gt = _coco({"images": images, "categories": [cat], "annotations": anns(source_a, True)})
    dt = _coco({"images": images, "categories": [cat], "annotations": anns(source_b, False)})
    ev = COCOeval(gt, dt, iouType="keypoints")
    ev.params.kpt_oks_sigmas = SIGMAS
    ev.params.maxDets = [100]
    ev._prepare()
    img_ids = [i + 1 for i in range(n_images)]
    t0 = time.perf_counter()
    matrices = {i: ev.computeOks(i, 1) for i in img_ids}
    seconds = time.perf_counter() - t0
    pairs = sum(len(ev._gts[i, 1]) * len(ev._dts[i, 1]) for i in img_ids)
    return seconds, pairs, matrices


def best_of(repeat: int, fn):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), times, out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--coco-images", type=int, default=10_000, help="images timed with pycocotools (0: skip)")
    parser.add_argument("--error-images", type=int, default=2000, help="images per consensus-error project")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--swap-seeds", type=int, default=2, help="projects per swap scenario (seeds 4, 5, ...)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    print(f"Jointly agreement benchmark — {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, numpy {np.__version__}, python {platform.python_version()}; {load()}")
    t0 = time.perf_counter()
    sim = simulate(args.images, args.seed)
    batch = sim.batch
    print(f"simulated project: {batch.n_images:,} images, {batch.n_sources} annotators, {len(batch):,} instances, "
          f"17 keypoints ({time.perf_counter() - t0:.1f} s, not timed below)")

    a, b = instance_pairs(batch.image, batch.source, kind="cross")
    print(f"cross-annotator instance pairs: {a.size:,}")

    # 1. pycocotools on a sample of images, every annotator pair
    n_coco = min(args.coco_images, batch.n_images)
    coco_seconds, coco_pairs, max_diff, coco_rate = 0.0, 0, 0.0, float("nan")
    for sa, sb in ((0, 1), (0, 2), (1, 2)) if n_coco else ():
        seconds, pairs, matrices = pycocotools_run(batch, n_coco, sa, sb)
        coco_seconds += seconds
        coco_pairs += pairs
        # the same pairs through Jointly's COCO form: equal to pycocotools
        ga = [np.flatnonzero((batch.image == i) & (batch.source == sa)) for i in range(min(n_coco, 300))]
        gb = [np.flatnonzero((batch.image == i) & (batch.source == sb)) for i in range(min(n_coco, 300))]
        for i, (g, d) in enumerate(zip(ga, gb)):
            if g.size and d.size:
                ours = pair_oks(batch, np.tile(g, d.size), np.repeat(d, g.size), SIGMAS).reshape(d.size, g.size)
                max_diff = max(max_diff, float(np.abs(ours - np.asarray(matrices[i + 1])).max()))
    if n_coco:
        coco_rate = coco_pairs / coco_seconds
        print(f"pycocotools computeOks:   {coco_pairs:>10,} pairs on {n_coco:,} images x 3 annotator pairs "
              f"in {coco_seconds:7.2f} s = {coco_rate:>12,.0f} pairs/s  "
              f"({3 * n_coco / coco_seconds:,.0f} image-pairs/s)")
        print(f"  Jointly COCO form equals pycocotools on {min(n_coco, 300)} x 3 image-pairs: max |diff| = {max_diff:.1e}")

    # 2. Jointly on all pairs of all images
    pair_agreement(batch, a[:1000], b[:1000], SIGMAS)  # warm caches (batch.x, batch.labeled)
    coco_form, coco_form_all, _ = best_of(args.repeat, lambda: pair_oks(batch, a, b, SIGMAS))
    agree, agree_all, _ = best_of(args.repeat, lambda: pair_agreement(batch, a, b, SIGMAS))
    agree32, agree32_all, _ = best_of(args.repeat, lambda: pair_agreement(batch, a, b, SIGMAS, dtype=np.float32))
    for name, secs, runs in (("Jointly COCO-form OKS", coco_form, coco_form_all),
                             ("Jointly agreement OKS", agree, agree_all),
                             ("Jointly agreement f32", agree32, agree32_all)):
        rate = a.size / secs
        print(f"{name + ':':25s} {a.size:>10,} pairs on {batch.n_images:,} images in {secs:7.2f} s = "
              f"{rate:>12,.0f} pairs/s  -> {rate / coco_rate:6.0f}x pycocotools  "
              f"(runs: {', '.join(f'{t:.2f}' for t in runs)} s)")

    # 3. the full pipeline, today's estimator and the new one, alternating so that both see the same machine
    runs = {"before": [], "after": []}
    results = {}
    for _ in range(args.repeat):
        for name, options in (("before", BEFORE), ("after", {})):
            t0 = time.perf_counter()
            results[name] = run_pipeline(batch, COCO_PERSON, image_size=sim.image_size, **options)
            runs[name].append(time.perf_counter() - t0)
    pipe = {name: min(times) for name, times in runs.items()}
    for name, label in (("before", "today's estimator (median, as drawn, COCO scatter)"),
                        ("after", "new (oriented, learned noise)")):
        result = results[name]
        stages = {k: v for k, v in result.timings.items() if k != "total"}
        print(f"full pipeline, {batch.n_images:,} images, {label}: {pipe[name]:.2f} s (best of {args.repeat}: "
              f"{', '.join(f'{t:.2f}' for t in runs[name])} s; {load()})")
        print("  stages (last run): " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
        flags = result.flags.counts()
        print(f"  {len(result.consensus):,} objects ({int(result.consensus.accepted.sum()):,} accepted, "
              f"{int(result.consensus.undecided.sum()):,} undecided), "
              f"mean image agreement {np.nanmean(result.images.agreement):.3f}, "
              f"flags: " + ", ".join(f"{k} {v:,}" for k, v in flags.items()))
    pipe_best, stages = pipe["after"], {k: v for k, v in results["after"].timings.items() if k != "total"}

    # 4. consensus error against the truth, old and new estimator
    errors = {}
    for name, project in (("mixed workforce", mixed_workforce(args.error_images, args.seed + 1)),
                          ("uniform workforce", simulate_project(args.error_images, n_annotators=5,
                                                                 seed=args.seed + 2))):
        old = project.consensus_error(run_pipeline(project.batch, COCO_PERSON, **BEFORE).consensus)
        new = project.consensus_error(run_pipeline(project.batch, COCO_PERSON).consensus)
        corrected = project.consensus_error(run_pipeline(project.batch, COCO_PERSON, subtract_offsets=True).consensus)
        errors[name] = {"before": old, "after": new, "after_offsets_subtracted": corrected}
        print(f"consensus error, {name} ({args.error_images:,} images, 5 annotators), sigma units: "
              f"today {old:.4f} -> new {new:.4f} ({(new - old) / old:+.1%}); "
              f"offsets subtracted {corrected:.4f} ({(corrected - old) / old:+.1%})")
    # 5. swap flags per scenario, old and new
    swaps = {}
    for name, options in SWAP_SCENARIOS.items():
        figures = {"before": [], "after": []}
        for seed in range(4, 4 + args.swap_seeds):
            project = simulate_project(SWAP_IMAGES[name], seed=seed, **options)
            for label, opts in (("before", BEFORE), ("after", {})):
                figures[label].append(project.swap_scores(run_pipeline(project.batch, COCO_PERSON, **opts).flags))
        swaps[name] = {label: {"precision": [f[0] for f in fig], "recall": [f[1] for f in fig],
                               "true_positives": [f[2] for f in fig]} for label, fig in figures.items()}
        text = {label: ", ".join(f"P {p:.4f} R {r:.4f}" for p, r, _ in fig) for label, fig in figures.items()}
        print(f"swap flags, {name} ({SWAP_IMAGES[name]:,} images, seeds 4-{3 + args.swap_seeds}): "
              f"today {text['before']} -> new {text['after']}")
    worst = min(min(v["after"]["precision"] + v["after"]["recall"]) for v in swaps.values())

    ratio = (a.size / agree) / coco_rate if n_coco else float("nan")
    mixed_gain = 1 - errors["mixed workforce"]["after"] / errors["mixed workforce"]["before"]
    uniform_ok = errors["uniform workforce"]["after"] <= errors["uniform workforce"]["before"]
    print(f"targets: agreement >= 50x pycocotools: {ratio:.0f}x {'OK' if ratio >= 50 or not n_coco else 'MISSED'}; "
          f"pipeline < 10 s: {pipe_best:.1f} s {'OK' if pipe_best < 10 else 'MISSED'}; "
          f"mixed-workforce error >= 15% lower: {mixed_gain:.1%} {'OK' if mixed_gain >= 0.15 else 'MISSED'}; "
          f"uniform not worse: {'OK' if uniform_ok else 'MISSED'}; "
          f"swap precision and recall >= 0.98: lowest {worst:.4f} {'OK' if worst >= 0.98 else 'MISSED'}; {load()}")

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "images": batch.n_images, "instances": len(batch), "pairs": int(a.size),
            "pycocotools": {"pairs": coco_pairs, "seconds": coco_seconds, "pairs_per_s": coco_rate,
                            "images": n_coco, "max_abs_diff": max_diff},
            "jointly": {"coco_form_s": coco_form, "agreement_s": agree, "agreement_f32_s": agree32,
                        "agreement_pairs_per_s": a.size / agree, "ratio": ratio},
            "pipeline": {"seconds": pipe_best, "runs": runs["after"], "stages": stages,
                         "before_seconds": pipe["before"], "before_runs": runs["before"]},
            "consensus_error": errors, "swap_flags": swaps, "load_average": os.getloadavg(),
        }, indent=2))
    ok = (ratio >= 50 or not n_coco) and pipe_best < 10 and mixed_gain >= 0.15 and uniform_ok and worst >= 0.98
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
