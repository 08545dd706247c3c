"""Scoring time of one image at the project's instance cap, against the same image uncapped.

    .venv/bin/python bench/bench_scoring_cap.py                       # 100 (default cap) and 500 (the ceiling)
    .venv/bin/python bench/bench_scoring_cap.py --caps 100 500 --over 2000

One image, 3 annotators, each drawing N people (17 COCO keypoints, simulated
with the usual noise), scored by the full pipeline (`run_pipeline`: matching,
consensus, leave-one-out, checks, sigmas) the way `review.services.scoring`
runs it. For every cap the script prints the time at the cap; with `--over M`
it also scores an image where one annotator drew M instances twice: as scoring
does it (the first `cap` of them, the image flagged for review) and, as the
baseline, whole (what scoring did before the cap; M=2000 took 36 s and 1.6 GB
in the issue that asked for the cap). Kernels only: no database.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from review.agreement.batch import InstanceBatch  # noqa: E402
from review.agreement.pipeline import run_pipeline  # noqa: E402
from review.agreement.simulate import simulate_project  # noqa: E402


def one_image(people: int, seed: int = 0):
    sim = simulate_project(1, n_annotators=3, people=(people, people), image_size=(4000, 3000),
                           height=(40, 120), seed=seed)
    return sim


def truncated(batch: InstanceBatch, cap: int) -> InstanceBatch:
    """Each annotator's first `cap` instances, as scoring._load keeps them."""
    keep = np.zeros(len(batch), dtype=bool)
    for source in np.unique(batch.source):
        keep[np.flatnonzero(batch.source == source)[:cap]] = True
    return batch.take(np.flatnonzero(keep))


def timed(batch, skeleton, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run_pipeline(batch, skeleton, image_size=np.array([[4000.0, 3000.0]]))
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--caps", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--over", type=int, default=0, help="also score an image with this many instances")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'instances per annotator':>24} {'instances':>10} {'seconds':>9}")
    for cap in args.caps:
        sim = one_image(cap)
        print(f"{cap:>24} {len(sim.batch):>10} {timed(sim.batch, sim.skeleton, args.repeat):>9.3f}")
    if args.over:
        cap = max(args.caps)
        sim = one_image(args.over, seed=1)
        capped = truncated(sim.batch, cap)
        print(f"{args.over:>17} capped {len(capped):>10} {timed(capped, sim.skeleton, args.repeat):>9.3f}"
              f"   (scored at the cap of {cap}, flagged for review)")
        print(f"{args.over:>15} uncapped {len(sim.batch):>10} {timed(sim.batch, sim.skeleton, 1):>9.3f}"
              "   (baseline: before the cap)")


if __name__ == "__main__":
    main()
