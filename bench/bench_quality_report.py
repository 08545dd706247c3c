"""A project-wide quality report on PostgreSQL: the work CVAT warns "may take up to several hours".

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/jointly_quality .venv/bin/python bench/bench_quality_report.py [--images 100000]

Seeds a COCO-17 project whose images each carry three annotators' labels
(1-4 people per image, simulated with a fixed seed) and submitted
assignments, then times `review.services.scoring.score_project`: loading
every annotation, the agreement engine (matching, OKS, consensus, checks,
reliability, learned sigmas), and writing a consensus annotation, a
ConsensusResult and a decision per image plus the project report — what
`POST /api/v1/projects/{id}/agreement/` runs. It then runs it again to show
that a re-run rewrites nothing new (idempotent).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jointly_quality")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jointly.settings")
os.environ.setdefault("DEBUG", "1")  # a development run, like the quick start (settings default to off)
os.environ["REDIS_URL"] = ""

from bench_coco import ensure_database  # noqa: E402


def seed(n_images: int, seed: int):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from annotation.models import Annotation, Assignment, Image, Organization, Project, Skeleton
    from annotation.services.presets import load_presets
    from review.agreement.simulate import simulate_project
    from tests.review.scoring_fixtures import instances_by_image_and_source

    load_presets()
    org, _ = Organization.objects.get_or_create(name="bench")
    Project.objects.filter(organization=org).delete()
    project = Project.objects.create(
        organization=org, name="quality", skeleton=Skeleton.objects.get(name="coco-17-person", version=1),
        replicas=3, auto_accept_oks=0.85, review_sample_rate=0.05,
    )
    sim = simulate_project(n_images, n_annotators=3, people=(1, 4), noise=1.0, swap_rate=0.01, seed=seed)
    User = get_user_model()
    users = [User.objects.get_or_create(username=f"bench-annotator-{s}")[0] for s in range(3)]
    width, height = (int(c) for c in sim.image_size[0])
    images = Image.objects.bulk_create(
        (Image(project=project, file=f"q{i}.jpg", file_name=f"q{i}.jpg", width=width, height=height,
               sha256=f"{i:064d}", status=Image.Status.SCORING, submitted_count=3, slots_taken=3)
         for i in range(n_images)), batch_size=5000,
    )
    grouped = instances_by_image_and_source(sim)
    annotations = Annotation.objects.bulk_create(
        (Annotation(image=images[i], source=Annotation.Source.ANNOTATOR, annotator=users[s],
                    instances=grouped.get((i, s), []))
         for i in range(n_images) for s in range(3)), batch_size=5000,
    )
    now = timezone.now()
    Assignment.objects.bulk_create(
        (Assignment(project=project, image_id=a.image_id, annotator_id=a.annotator_id,
                    state=Assignment.State.SUBMITTED, leased_at=now, lease_expires_at=now, submitted_at=now,
                    annotation=a) for a in annotations), batch_size=5000,
    )
    return project, len(sim.batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from review.models import ConsensusResult
    from review.services.scoring import score_project

    t0 = time.perf_counter()
    project, n_instances = seed(args.images, args.seed)
    print(f"seeded {args.images:,} images, {n_instances:,} annotator instances (3 annotators) "
          f"in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    report = score_project(project)
    elapsed = time.perf_counter() - t0
    decisions = report.report["decisions"]
    print(f"quality report (score_project): {elapsed:.1f} s for {report.n_images:,} images "
          f"= {report.n_images / elapsed:,.0f} images/s")
    print(f"  engine stages (s): {report.report['timings']}")
    print(f"  agreement {report.report['agreement']:.3f}; auto-accepted {decisions['auto_accepted']:,}, "
          f"needs review {decisions['needs_review']:,}; flags {report.report['flags']}")
    before = ConsensusResult.objects.filter(project=project).count()
    t0 = time.perf_counter()
    score_project(project)
    print(f"re-run: {time.perf_counter() - t0:.1f} s, results {before:,} -> "
          f"{ConsensusResult.objects.filter(project=project).count():,} (idempotent)")
    print("CVAT's docs: a quality report on a large task 'may take up to several hours'.")


if __name__ == "__main__":
    main()
