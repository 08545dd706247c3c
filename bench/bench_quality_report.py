"""A project-wide quality report on PostgreSQL, against the implementation it replaced, in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/jointly_quality .venv/bin/python bench/bench_quality_report.py [--images 100000]

Seeds a COCO-17 project whose images each carry three annotators' labels
(1-4 people per image, simulated with a fixed seed) and submitted
assignments, into a fresh database named by DATABASE_URL. A copy of that
database (PostgreSQL's CREATE DATABASE ... TEMPLATE) is scored by the
baseline: this repository at `--baseline-ref` (git archive into a temporary
folder, run in a subprocess), so both score exactly the same rows. Then it
times `review.services.scoring.score_project` here: reading every
annotation, the agreement engine, and writing a consensus annotation, a
ConsensusResult, a score round, a status and (where needed) a review task
per image, plus the project report — what `POST /api/v1/projects/{id}/agreement/`
runs. It prints both figures side by side with the load average at each,
where the time went (read / engine / prepare / write), and re-runs to show
that a re-run changes nothing.

Target: 100,000 images end to end under 30 s on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jointly_quality")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jointly.settings")
os.environ.setdefault("DEBUG", "1")  # a development run, like the quick start (settings default to off)
os.environ["REDIS_URL"] = ""

from bench_coco import admin_connection  # noqa: E402

BASELINE_REF = "3d3b17d"  # main before this set-based scoring I/O
TARGET_S = 30.0
#: Run inside the baseline's source tree: time its score_project on the seeded copy, print JSON.
BASELINE_DRIVER = """
import json, os, sys, time
import django
django.setup()
from annotation.models import Project
from review.services.scoring import score_project
project = Project.objects.get(organization__name="bench", name="quality")
t0 = time.perf_counter()
report = score_project(project)
elapsed = time.perf_counter() - t0
print(json.dumps({"elapsed": elapsed, "images": report.n_images, "timings": report.report.get("timings", {}),
                  "decisions": report.report.get("decisions")}))
"""


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def recreate(url: str, name: str, template: str | None = None) -> None:
    conn, _ = admin_connection(url)
    with conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def drop(url: str, name: str) -> None:
    conn, _ = admin_connection(url)
    with conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(n_images: int, seed: int):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from annotation.models import Annotation, Assignment, Image, Organization, Project, Skeleton
    from annotation.services.presets import load_presets
    from review.agreement.simulate import simulate_project
    from tests.review.scoring_fixtures import instances_by_image_and_source

    load_presets()
    org, _ = Organization.objects.get_or_create(name="bench")
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


def defaults_for_older_code(url: str) -> None:
    """On the baseline's copy only: columns added since the baseline (NOT NULL, with a plain model
    default) get that default in the database, so the older code's INSERTs, which do not name them,
    still work."""
    import psycopg
    import psycopg.sql
    from django.apps import apps

    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        for model in apps.get_models():
            for f in model._meta.local_concrete_fields:
                default = f.default if f.has_default() else None
                if f.null or not isinstance(default, (bool, int, float, str)):
                    continue
                conn.execute(psycopg.sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}").format(
                    psycopg.sql.Identifier(model._meta.db_table), psycopg.sql.Identifier(f.column),
                    psycopg.sql.Literal(default)))


def run_baseline(ref: str, url: str) -> dict:
    """score_project of the source tree at `ref`, on the database at `url` (a subprocess)."""
    with tempfile.TemporaryDirectory(prefix="jointly-baseline-") as tree:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": tree, "DEBUG": "1", "REDIS_URL": ""}
        done = subprocess.run([sys.executable, "-c", BASELINE_DRIVER], cwd=tree, env=env, capture_output=True,
                              text=True)
    if done.returncode != 0:
        raise SystemExit(f"baseline at {ref} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def split(timings: dict, elapsed: float) -> str:
    parts = {key: timings[key] for key in ("read", "engine", "prepare", "write") if key in timings}
    if "engine" not in parts and "total" in timings:  # the baseline timed its engine only
        parts = {"engine": timings["total"], "read + prepare + write": elapsed - timings["total"]}
    return ", ".join(f"{key} {value:.1f}" for key, value in parts.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="git ref of the baseline implementation")
    parser.add_argument("--no-baseline", action="store_true", help="time this implementation only")
    args = parser.parse_args()

    url = os.environ["DATABASE_URL"]
    _, name = admin_connection(url)
    baseline_name = f"{name}_baseline"
    recreate(url, name)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    from review.models import ConsensusResult, ScoreRound
    from review.services.scoring import score_project

    t0 = time.perf_counter()
    project, n_instances = seed(args.images, args.seed)
    print(f"seeded {args.images:,} images, {n_instances:,} annotator instances (3 annotators) "
          f"in {time.perf_counter() - t0:.1f} s")
    with connections["default"].cursor() as cursor:  # statistics, as a live database has them
        cursor.execute("VACUUM ANALYZE")

    baseline = None
    if not args.no_baseline:
        connections.close_all()  # a template database must have no other session
        recreate(url, baseline_name, template=name)
        baseline_load = load()
        baseline_url = url.rsplit("/", 1)[0] + "/" + baseline_name
        defaults_for_older_code(baseline_url)
        baseline = run_baseline(args.baseline_ref, baseline_url)
        baseline["load"] = baseline_load
        drop(url, baseline_name)

    new_load = load()
    t0 = time.perf_counter()
    report = score_project(project)
    elapsed = time.perf_counter() - t0
    timings = report.report["timings"]
    decisions = report.report["decisions"]

    print(f"\nscore_project, {report.n_images:,} images, end to end (read, engine, write every row):")
    print(f"  {'implementation':<28} {'seconds':>8} {'images/s':>9}  where the time went (s); load at start")
    if baseline:
        print(f"  {'baseline ' + args.baseline_ref:<28} {baseline['elapsed']:>8.1f} "
              f"{baseline['images'] / baseline['elapsed']:>9,.0f}  {split(baseline['timings'], baseline['elapsed'])}"
              f"; {baseline['load']}")
    print(f"  {'this tree (set-based I/O)':<28} {elapsed:>8.1f} {report.n_images / elapsed:>9,.0f}  "
          f"{split(timings, elapsed)}; {new_load}")
    if baseline:
        print(f"  speed-up x{baseline['elapsed'] / elapsed:.1f}; decisions identical: "
              f"{baseline['decisions'] == decisions}")
    verdict = ("met" if elapsed < TARGET_S else "NOT met") if report.n_images >= 100_000 else "set for 100,000 images"
    print(f"  target: under {TARGET_S:.0f} s for 100,000 images -> {verdict} (now {load()})")
    print(f"  engine stages (s): { {k: v for k, v in timings.items() if k not in ('read', 'prepare', 'write')} }")
    print(f"  agreement {report.report['agreement']:.3f}; auto-accepted {decisions['auto_accepted']:,}, "
          f"needs review {decisions['needs_review']:,}; flags {report.report['flags']}")

    before = (ConsensusResult.objects.filter(project=project).count(), ScoreRound.objects.filter(project=project).count())
    t0 = time.perf_counter()
    score_project(project)
    after = (ConsensusResult.objects.filter(project=project).count(), ScoreRound.objects.filter(project=project).count())
    print(f"re-run: {time.perf_counter() - t0:.1f} s; results, score rounds {before} -> {after} "
          f"({'idempotent' if before == after else 'CHANGED'})")
    print("CVAT's docs: a quality report on a large task 'may take up to several hours'.")


if __name__ == "__main__":
    main()
