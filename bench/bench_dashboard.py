"""The project dashboard on a 100,000-image project on PostgreSQL: server time and time to the first chart.

    .venv/bin/python bench/bench_dashboard.py                       # 100,000 images
    .venv/bin/python bench/bench_dashboard.py --images 20000 --repeat 10

It migrates a fresh PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/jointly_bench_dashboard), then builds the
project with bulk inserts (not the services one image at a time): 100,000
images over 30 days, three submitted assignments each, a consensus result per
image (agreement, decision), open review tasks for the disputed ones, QA
decisions for some, and a project report. Another project as large is
seeded first into the same database (--other-images), as any real database
holds more than the project one looks at: that is where an index on
(project, time) earns its keep. Then:

1. server time: GET of the page itself, and of /dashboard/projects/{id}/data/
   ?chart=NAME for each chart (frontend/dashboards.py, one query per chart;
   the page sends these at once and draws each as it arrives), and of all
   charts in one request, through Django's test client in-process, median
   and p95 of --repeat runs. Target: < 300 ms. Each figure is measured
   twice in the same run, side by side: first without the indexes the
   daily-activity chart reads (DASHBOARD_INDEXES: dropped for the baseline),
   then with them (created again, as the migrations leave them). A further
   baseline computes the same numbers the naive way: every row of the
   project read into Python and counted there.
2. time to first chart: `manage.py runserver` serves the page; Debian's
   Chromium (Playwright) signs in and opens the dashboard; the figure is the
   page's own clock (performance.now(), from navigation start) when plotly.js
   finished drawing its first chart. Median of 5 loads, without and with
   the indexes. Target: < 1 s.

The machine's load average is printed before and after: the figures are
wall-clock times and move with whatever else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_editor import start_runserver  # noqa: E402
from bench_tasks import free_port, prepare_database, stop_server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
PASSWORD = "bench-dashboard-pass"
BATCH = 10_000
#: The indexes behind the daily-activity chart (migrations annotation 0007 and review 0007), by model.
DASHBOARD_INDEXES = {"annotation.Assignment": "assignment_project_submitted",
                     "review.ConsensusResult": "consensus_project_computed"}


def _django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jointly.settings")
    import django

    django.setup()


# --- database side (runs in a subprocess with DATABASE_URL set) --------------------------


def seed(n_images: int, prefix: str = "bench") -> dict:
    """The project, in bulk: images, assignments, consensus results, review tasks, decisions, a report.

    `prefix` names its organization, project and people, so that a database can hold another project
    (the one the indexes must tell apart from the measured one, as in any real database)."""
    _django()
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from tqdm import tqdm

    from annotation.models import Assignment, Image, Membership, Organization, Project, Skeleton, Vendor
    from annotation.services.presets import load_presets
    from review.models import ConsensusResult, ProjectAgreement, ReviewDecision, ReviewTask

    rng = np.random.default_rng(0)
    load_presets()
    skeleton = Skeleton.objects.get(name="coco-17-person", version=1)
    names = list(skeleton.spec().names)
    org = Organization.objects.create(name=f"{prefix} org")
    vendor = Vendor.objects.create(name=f"{prefix} vendor")
    project = Project.objects.create(organization=org, name=f"{prefix} {n_images:,}", skeleton=skeleton, replicas=3)
    project.vendors.add(vendor)
    User = get_user_model()
    manager = User.objects.create_user(f"{prefix}-manager", password=PASSWORD)
    Membership.objects.create(user=manager, role=Membership.Role.PROJECT_MANAGER, organization=org)
    annotators = [User.objects.create_user(f"{prefix}-annotator-{i}") for i in range(3)]
    now = timezone.now()
    start = now - timedelta(days=30)
    agreement = np.clip(rng.beta(6, 2, n_images), 0, 1)
    disputed = agreement < 0.75
    statuses = np.where(disputed, "review", "accepted")

    def batches(total):
        return tqdm(range(0, total, BATCH), desc="  seed", unit_scale=BATCH, leave=False)

    for s in batches(n_images):
        Image.objects.bulk_create([
            Image(project=project, file=f"projects/{project.pk}/b{i}.jpg", file_name=f"b{i}.jpg", width=640,
                  height=480, sha256=f"{project.pk:08x}{i:056x}", status=statuses[i])
            for i in range(s, min(s + BATCH, n_images))
        ], batch_size=BATCH)
    image_ids = list(Image.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    when = [start + timedelta(seconds=float(x)) for x in np.sort(rng.uniform(0, 30 * 86400, n_images))]
    for s in batches(n_images):
        rows = []
        for i in range(s, min(s + BATCH, n_images)):
            for a in annotators:
                rows.append(Assignment(
                    project=project, image_id=image_ids[i], annotator=a, vendor=vendor,
                    state=Assignment.State.SUBMITTED, leased_at=when[i] - timedelta(minutes=2),
                    lease_expires_at=when[i] + timedelta(minutes=8), submitted_at=when[i],
                    active_ms=int(rng.integers(20_000, 90_000)), instance_count=1,
                ))
        Assignment.objects.bulk_create(rows, batch_size=BATCH)
    k = len(names)
    for s in batches(n_images):
        ConsensusResult.objects.bulk_create([
            ConsensusResult(
                image_id=image_ids[i], project=project, agreement=float(agreement[i]),
                keypoint_agreement=np.round(np.clip(agreement[i] + rng.normal(0, 0.05, k), 0, 1), 3).tolist(),
                n_annotators=3, n_objects=1, decision="needs_review" if disputed[i] else "auto_accepted",
                computed_at=when[i] + timedelta(minutes=1),
            )
            for i in range(s, min(s + BATCH, n_images))
        ], batch_size=BATCH)
    review_ids = [image_ids[i] for i in np.flatnonzero(disputed)]
    ReviewTask.objects.bulk_create([
        ReviewTask(image_id=image_ids[i], project=project, agreement=float(agreement[i]),
                   reasons=["agreement below the threshold"])
        for i in np.flatnonzero(disputed).tolist()
    ], batch_size=BATCH)
    # Spread the queue's ages over the last week (created_at is auto_now_add: set it in one statement).
    from django.db import connection

    with connection.cursor() as cursor:
        # computed_at is auto_now: each image scored a minute after its last submission, in one statement.
        cursor.execute(
            f"UPDATE {ConsensusResult._meta.db_table} cr SET computed_at = a.last + interval '1 minute' "
            f"FROM (SELECT image_id, max(submitted_at) AS last FROM {Assignment._meta.db_table} "
            "WHERE project_id = %s GROUP BY image_id) a WHERE a.image_id = cr.image_id", [project.pk])
        cursor.execute(
            f"UPDATE {ReviewTask._meta.db_table} SET created_at = %s - (id %% 10080) * interval '1 minute' "
            "WHERE project_id = %s", [now, project.pk])
    decided = ReviewTask.objects.filter(project=project).order_by("id")[: len(review_ids) // 5]
    ReviewDecision.objects.bulk_create([
        ReviewDecision(task_id=task_id, image_id=image_id, project=project, actor=manager,
                       action=ReviewDecision.Action.ACCEPT_CONSENSUS if n % 4 else ReviewDecision.Action.REJECT,
                       payload={}, state_before={})
        for n, (task_id, image_id) in enumerate(decided.values_list("id", "image_id"))
    ], batch_size=BATCH)
    ProjectAgreement.objects.create(project=project, n_images=n_images, report={"keypoints": {
        "name": names, "agreement": np.round(rng.uniform(0.5, 0.95, k), 3).tolist(),
        "spread": np.round(rng.uniform(0.3, 1.5, k), 3).tolist(),
    }})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"project": project.pk, "images": n_images, "review_tasks": len(review_ids)}


def naive_numbers(project_id: int) -> dict:
    """The baseline: the same charts computed in Python from every row of the project."""
    from collections import Counter

    from annotation.models import Assignment, Image
    from review.models import ConsensusResult, ReviewDecision, ReviewTask

    status = Counter(Image.objects.filter(project_id=project_id).values_list("status", flat=True))
    daily = Counter()
    for submitted_at in Assignment.objects.filter(project_id=project_id, submitted_at__isnull=False).values_list(
            "submitted_at", flat=True):
        daily[("submitted", submitted_at.date())] += 1
    histogram = [0] * 20
    outcomes = Counter()
    for computed_at, agreement, decision in ConsensusResult.objects.filter(project_id=project_id).values_list(
            "computed_at", "agreement", "decision"):
        daily[("scored", computed_at.date())] += 1
        if agreement is not None:
            histogram[min(19, int(agreement * 20))] += 1
        outcomes[decision] += 1
    for created_at, action in ReviewDecision.objects.filter(project_id=project_id).values_list("created_at", "action"):
        daily[("decided", created_at.date())] += 1
        outcomes["rework"] += action == "reject"
    ages = Counter(ReviewTask.objects.filter(project_id=project_id, state="open").values_list("created_at", flat=True))
    return {"status": status, "daily": daily, "histogram": histogram, "outcomes": outcomes, "queue": len(ages)}


def set_indexes(present: bool) -> dict:
    """Create (present) or drop the dashboard's indexes, then VACUUM ANALYZE so both states are planned alike."""
    _django()
    from django.apps import apps
    from django.db import connection

    done = {}
    for label, name in DASHBOARD_INDEXES.items():
        model = apps.get_model(label)
        index = next(i for i in model._meta.indexes if i.name == name)
        with connection.cursor() as cursor:
            exists = name in connection.introspection.get_constraints(cursor, model._meta.db_table)
        with connection.schema_editor() as editor:
            if present and not exists:
                editor.add_index(model, index)
            elif not present and exists:
                editor.remove_index(model, index)
        done[name] = present
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return done


def measure(project_id: int, repeat: int) -> dict:
    _django()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's host name is allowed
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-manager"))
    url = f"/dashboard/projects/{project_id}/data/"

    def timed(fn, n):
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
        return times

    def get(path):
        response = client.get(path)
        assert response.status_code == 200, response.status_code
        return response

    from frontend.dashboards import CHARTS

    body = get(url).json()  # warm-up; checks the figures are there
    assert sum(body["histogram"]["counts"]) > 0
    out = {"page_ms": timed(lambda: get(f"/dashboard/projects/{project_id}/"), repeat)}
    for chart in CHARTS:
        out[f"chart {chart}"] = timed(lambda: get(f"{url}?chart={chart}"), repeat)
    out["all charts in one request"] = timed(lambda: get(url), repeat)
    out["naive_ms"] = timed(lambda: naive_numbers(project_id), max(1, repeat // 5))
    return out


# --- orchestration ---------------------------------------------------------------------


def _db_subprocess(env: dict, *args: str) -> dict:
    out = subprocess.run([PYTHON, __file__, *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{args[0]} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def first_chart(base: str, project_id: int, loads: int = 5) -> list[float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 720}, device_scale_factor=1)
        page.goto(f"{base}/accounts/login/")
        page.fill("#id_username", "bench-manager")
        page.fill("#id_password", PASSWORD)
        page.click("#sign-in")
        page.wait_for_url(f"{base}/")
        times = []
        for n in range(loads + 1):
            page.goto(f"{base}/dashboard/projects/{project_id}/")
            page.wait_for_function("window.jointlyDashboard && window.jointlyDashboard.drawn.length > 0")
            if n:  # the first load fills the browser's cache of plotly.js, as a returning manager has it
                times.append(page.evaluate("window.jointlyDashboard.drawn[0].at"))
        browser.close()
    return times


def p95(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--other-images", type=int, default=100_000,
                        help="images of another project seeded first into the same database (0: none)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="without/with rounds, interleaved so that the machine's load weighs on both alike")
    parser.add_argument("--reuse", type=int, metavar="PROJECT_ID",
                        help="measure the project a previous run seeded (its database is kept) instead of seeding")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jointly_bench_dashboard")
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "1", "REDIS_URL": "", "LOG_LEVEL": "WARNING",
           "PYTHONPATH": str(ROOT)}
    if args.reuse:
        seeded = {"project": args.reuse}
        print(f"PostgreSQL, the project {args.reuse} a previous run seeded", flush=True)
    else:
        print(f"PostgreSQL, {args.images:,} images: migrating and seeding in bulk ...", flush=True)
        prepare_database("postgres", env)
        t0 = time.perf_counter()
        if args.other_images:
            other = _db_subprocess(env, "seed", str(args.other_images), "other")
            print(f"  another project seeded first: {other}")
        seeded = _db_subprocess(env, "seed", str(args.images))
        print(f"  seeded in {time.perf_counter() - t0:.1f} s: {seeded}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    port = free_port()
    server = start_runserver(env, port)
    runs = {False: ({}, []), True: ({}, [])}
    try:
        # Without the indexes (the baseline), then with them (as the migrations leave the database),
        # round after round: the load of whatever else runs falls on both columns alike.
        for present in [False, True] * args.rounds:
            _db_subprocess(env, "indexes", "1" if present else "0")
            numbers, first = runs[present]
            for key, times in _db_subprocess(env, "measure", str(seeded["project"]), str(args.repeat)).items():
                numbers.setdefault(key, []).extend(times)
            first.extend(first_chart(f"http://127.0.0.1:{port}", seeded["project"]))
    finally:
        stop_server(server)
    (without, first_without), (with_, first_with) = runs[False], runs[True]
    print("server time (Django test client, in-process), median / p95 in ms   (target < 300 ms)")
    print(f"  {'':46s} {'without the indexes':>21s}  {'with the indexes':>21s}")
    labels = {"page_ms": "dashboard page (HTML)", "naive_ms": "baseline: all charts, every row read in Python"}
    for key in with_:
        before, after = without[key], with_[key]
        print(f"  {labels.get(key, key):46s} {statistics.median(before):9.1f} / {p95(before):7.1f}"
              f"    {statistics.median(after):9.1f} / {p95(after):7.1f}")
    print("time to first chart (Chromium, from navigation start), median / max ms   (target < 1000 ms)")
    print(f"  {'':46s} {statistics.median(first_without):9.0f} / {max(first_without):7.0f}"
          f"    {statistics.median(first_with):9.0f} / {max(first_with):7.0f}   ({len(first_with)} loads each)")
    print(f"({args.rounds} interleaved rounds of {args.repeat} requests per figure and state)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "seed":
        print(json.dumps(seed(int(sys.argv[2]), *sys.argv[3:4])))
    elif len(sys.argv) > 1 and sys.argv[1] == "indexes":
        print(json.dumps(set_indexes(sys.argv[2] == "1")))
    elif len(sys.argv) > 1 and sys.argv[1] == "measure":
        print(json.dumps(measure(int(sys.argv[2]), int(sys.argv[3]))))
    else:
        main()
