"""Where human QA time goes: fixed replicas, adaptive replicas, and review of everything, on one simulated project.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/jointly_review .venv/bin/python bench/bench_review.py [--images 10000]

A simulated workforce labels images with known truth (review/agreement/simulate.py):
a pool of annotators whose pairwise OKS sits near COCO's human baseline
(median about 0.91), two sloppy ones, and left/right swaps and gross
keypoint errors at COCO's 1-2% outlier rate. Each image gets a random draw of
five pool members; the first three are its replicas, the fourth and fifth
are what adaptive replicas may ask for. Three policies run through the real
services on PostgreSQL (`review.services.scoring.score_images`, the state
machine, `review.services.decisions.decide`):

- fixed: 3 replicas; whatever scoring does not auto-accept goes to a QA lead;
- adaptive: 3 replicas, up to 5 (`max_replicas`): an unsettled image without
  a blocking flag gets one more annotator before it may reach a QA lead;
- review all: every image is reviewed (spot-check rate 1.0).

The simulated QA lead accepts the consensus of every task it is given. For
each policy the table shows the share of images a human reviewed, the
annotator labels spent per image, and the accuracy of the accepted ground
truth against the truth: mean OKS (COCO's, the truth as reference, a missed
person scores 0) and the share of images whose accepted labels score below 0.85.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jointly_review")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jointly.settings")
os.environ["REDIS_URL"] = ""

from bench_coco import ensure_database  # noqa: E402

POOL = 12
SLOTS = 5
SLOPPY = (10, 11)


def simulate(n_images: int, seed: int):
    from review.agreement.simulate import simulate_project

    noise = np.full(POOL, 0.45)
    noise[list(SLOPPY)] = 1.5
    return simulate_project(n_images, n_annotators=POOL, people=(1, 3), noise=noise, swap_rate=0.01,
                            mirror_fraction=0.5, outlier_rate=0.005, miss_keypoint_rate=0.01,
                            visibility_flip_rate=0.03, seed=seed)


class Workforce:
    """The simulated labels as stored JSON, and which pool member fills which slot of which image."""

    def __init__(self, sim, seed: int):
        from tests.review.scoring_fixtures import instances_by_image_and_source

        self.sim = sim
        self.labels = instances_by_image_and_source(sim)
        rng = np.random.default_rng(seed + 1)
        n = len(sim.image_size)
        self.slots = np.argsort(rng.random((n, POOL)), axis=1)[:, :SLOTS]  # (I, 5) pool members per image
        self.truth = {}
        t = sim.truth
        kp = np.concatenate([t.xy, t.v[..., None].astype(np.float64)], axis=2)
        for img, row, box in zip(t.image.tolist(), kp.reshape(len(t), -1).tolist(), t.bbox.tolist()):
            self.truth.setdefault(img, []).append({"bbox": box, "keypoints": row})


def setup_project(name: str, users, sim, **fields):
    from annotation.models import Image, Organization, Project, Skeleton

    org, _ = Organization.objects.get_or_create(name="bench-review")
    # Decisions are an append-only audit trail (their projects cannot be deleted): a new project per run.
    settings = {"replicas": 3, "auto_accept_oks": 0.85, "review_sample_rate": 0.0, **fields}
    project = Project.objects.create(
        organization=org, name=f"{name} {time.time():.0f}", skeleton=Skeleton.objects.get(name="coco-17-person", version=1),
        **settings,
    )
    width, height = (int(c) for c in sim.image_size[0])
    images = Image.objects.bulk_create(
        (Image(project=project, file=f"r{i}.jpg", file_name=f"r{i}.jpg", width=width, height=height,
               sha256=f"{project.pk:08d}{i:056d}", status=Image.Status.ANNOTATING) for i in range(len(sim.image_size))),
        batch_size=5000,
    )
    return project, images


def add_replicas(project, images, index, slot: int, work: Workforce, users) -> None:
    """Submit slot `slot` of each image (the pool member drawn for it), as submitted assignments."""
    from django.utils import timezone

    from annotation.models import Annotation, Assignment, Image

    now = timezone.now()
    pairs = [(image, int(work.slots[i, slot])) for image, i in zip(images, index)]
    annotations = Annotation.objects.bulk_create(
        (Annotation(image=image, source=Annotation.Source.ANNOTATOR, annotator=users[member],
                    instances=work.labels.get((i, member), []))
         for (image, member), i in zip(pairs, index)), batch_size=5000,
    )
    Assignment.objects.bulk_create(
        (Assignment(project=project, image_id=a.image_id, annotator_id=a.annotator_id,
                    state=Assignment.State.SUBMITTED, leased_at=now, lease_expires_at=now, submitted_at=now,
                    annotation=a) for a in annotations), batch_size=5000,
    )
    ids = [image.pk for image in images]
    Image.objects.filter(pk__in=ids).update(submitted_count=slot + 1, slots_taken=slot + 1)


def score(ids) -> None:
    from annotation.services import image_status
    from review.services.scoring import score_images

    for start in range(0, len(ids), 2000):
        chunk = ids[start:start + 2000]
        image_status.start_scoring(chunk)
        score_images(chunk)


def run_policy(name: str, work: Workforce, users, qa_lead, **fields) -> dict:
    from annotation.models import Annotation, Image
    from review.models import ReviewDecision, ReviewTask
    from review.services.decisions import DecisionInput, decide

    t0 = time.perf_counter()
    project, images = setup_project(name, users, work.sim, **fields)
    index = np.arange(len(images))
    for slot in range(3):
        add_replicas(project, images, index, slot, work, users)
    score([im.pk for im in images])
    position = {im.pk: i for i, im in enumerate(images)}
    while True:  # adaptive replicas: whoever the scoring asked one more annotator for
        waiting = list(Image.objects.filter(project=project, status=Image.Status.ANNOTATING)
                       .values_list("pk", "extra_replicas"))
        if not waiting:
            break
        for extra in sorted({e for _, e in waiting}):
            ids = [pk for pk, e in waiting if e == extra]
            chunk = [images[position[pk]] for pk in ids]
            add_replicas(project, chunk, [position[pk] for pk in ids], 2 + extra, work, users)
            score(ids)
    for task_id, version in ReviewTask.objects.filter(project=project, state="open").values_list("pk", "version"):
        decide(task_id, qa_lead, DecisionInput(action="accept_consensus", version=version))
    elapsed = time.perf_counter() - t0

    from review.models import ConsensusResult
    from review.services.gold import score_against_gold

    spec = project.skeleton.spec()
    final = dict(Annotation.objects.filter(image__project=project, source="consensus").values_list("image_id", "instances"))
    final.update(Annotation.objects.filter(image__project=project, source="review").values_list("image_id", "instances"))
    accepted = Image.objects.filter(project=project, status=Image.Status.ACCEPTED).values_list("pk", flat=True)
    oks = np.array([score_against_gold(work.truth.get(position[pk], []), final.get(pk, []), spec)["oks"]
                    for pk in accepted])
    pairwise = [v for scores in ConsensusResult.objects.filter(project=project).values_list("annotator_scores", flat=True)
                for v in scores.get("pairwise", {}).values()]
    n = len(images)
    causes: dict[str, int] = {}
    for reasons in ReviewTask.objects.filter(project=project).values_list("reasons", flat=True):
        for reason in reasons:
            key = reason.split(":")[0].split(" (")[0] if reason.startswith(("adaptive", "drawn")) else (
                "flag " + reason.split("'")[1] if "flag(s)" in reason else " ".join(reason.split()[:1] + reason.split()[2:4]))
            causes[key] = causes.get(key, 0) + 1
    return {
        "causes": dict(sorted(causes.items(), key=lambda kv: -kv[1])[:8]),
        "policy": name, "images": n, "accepted": len(oks),
        "reviewed": ReviewDecision.objects.filter(project=project).values("image").distinct().count() / n,
        "labels": Annotation.objects.filter(image__project=project, source="annotator").count() / n,
        "oks": float(oks.mean()), "below": float((oks < 0.85).mean()),
        "pairwise_median": float(np.median(pairwise)) if pairwise else float("nan"), "seconds": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from annotation.services.presets import load_presets

    call_command("migrate", verbosity=0)
    load_presets()
    User = get_user_model()
    users = [User.objects.get_or_create(username=f"bench-pool-{s}")[0] for s in range(POOL)]
    qa_lead = User.objects.get_or_create(username="bench-qa-lead")[0]

    t0 = time.perf_counter()
    work = Workforce(simulate(args.images, args.seed), args.seed)
    print(f"simulated {args.images:,} images, pool of {POOL} annotators ({len(SLOPPY)} sloppy), "
          f"{SLOTS} candidate labels per image, in {time.perf_counter() - t0:.1f} s")
    rows = [
        run_policy("fixed 3 replicas", work, users, qa_lead),
        run_policy("adaptive 3 up to 5", work, users, qa_lead, max_replicas=5),
        run_policy("review all", work, users, qa_lead, review_sample_rate=1.0),
    ]
    print(f"median pairwise OKS of the workforce (fixed policy): {rows[0]['pairwise_median']:.3f} "
          "(COCO's human baseline: about 0.91)")
    print(f"{'policy':<20} {'human review':>13} {'labels/image':>13} {'OKS to truth':>13} "
          f"{'OKS<0.85':>9} {'seconds':>8}")
    for r in rows:
        print(f"{r['policy']:<20} {r['reviewed']:>12.1%} {r['labels']:>13.2f} {r['oks']:>13.4f} "
              f"{r['below']:>8.2%} {r['seconds']:>8.1f}")
    for r in rows[:2]:
        print(f"  why {r['policy']} images reached a QA lead (reasons, counted per task): {r['causes']}")
    fixed, adaptive = rows[0], rows[1]
    cut = 1 - adaptive["reviewed"] / fixed["reviewed"] if fixed["reviewed"] else float("nan")
    print(f"adaptive replicas cut human review by {cut:.0%} against fixed replicas "
          f"(target: at least 50%), accepted-label OKS {adaptive['oks']:.4f} vs {fixed['oks']:.4f}")


if __name__ == "__main__":
    main()
