"""Load benchmark of the assignment engine: N simulated annotators looping next -> submit.

    .venv/bin/python bench/bench_tasks.py                       # PostgreSQL and SQLite, N=50 and N=200
    .venv/bin/python bench/bench_tasks.py --backends postgres --sizes 50 --duration 30 --think-ms 250

For each backend and size it creates a fresh database, seeds a 5,000-image
project with replicas 3 and N annotators (tokens, staffing, acknowledged
instructions) in bulk, starts gunicorn (DEBUG=0) on loopback, and runs N
threads with one keep-alive connection each (http.client by default, httpx
with --client httpx). Each simulated annotator
loops: POST tasks/next/, optionally "labels" for --think-ms, POST submit with
one box and 17 keypoints, until --duration runs out or nothing is left.

It prints throughput (completed next+submit cycles per second), p50/p95/p99
latency of next and submit, and then checks the invariants on the database:
at most 3 replicas per image and exactly 3 distinct annotators per finished
image, nobody twice on an image, every submit the clients saw acknowledged
stored with the annotation id they were told (no lost submit), one
annotation per submitted assignment (no duplicate), the engine's counters
equal to the assignment rows, and exactly one scoring job per finished
image. Exit status 1 if any invariant is violated.

With --think-ms 0 the loop is the same as the Label Studio figures in
../shared/ANCHORS.md (no pause between calls). It is a closed loop, so by
Little's law N = throughput x cycle time: at N=50 and 100 cycles/s a cycle
takes 500 ms on average, whatever the server does, so a next p99 under
100 ms at 100 cycles/s needs annotators that spend time labeling between
calls, as real ones do (tens of seconds). --think-ms sets that time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
KEYPOINTS = 17
IMAGE_W, IMAGE_H = 640, 480


# --- database side (runs in a subprocess with DATABASE_URL set) --------------------------


def _django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jointly.settings")
    import django

    django.setup()


def seed(images: int, annotators: int, replicas: int, lease_seconds: int = 600) -> dict:
    """Bulk-create the project, its images and the annotators with tokens; returns ids and tokens."""
    _django()
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from annotation.models import (
        Image, Instructions, InstructionsAcknowledgement, Keypoint, Membership, Organization, Project,
        ProjectAnnotator, Skeleton, Vendor,
    )

    User = get_user_model()
    stamp = str(time.time_ns())
    with transaction.atomic():
        skeleton = Skeleton.objects.create(name=f"bench-person-{stamp}")
        Keypoint.objects.bulk_create(
            Keypoint(skeleton=skeleton, order=i, name=f"kp{i}", sigma=0.05) for i in range(KEYPOINTS)
        )
        organization = Organization.objects.create(name=f"bench-org-{stamp}")
        vendor = Vendor.objects.create(name=f"bench-vendor-{stamp}")
        instructions = Instructions.objects.create(organization=organization, title="Bench", body="Label every joint.",
                                                   version=1)
        project = Project.objects.create(
            organization=organization, name="bench", skeleton=skeleton, instructions=instructions,
            replicas=replicas, lease_seconds=lease_seconds,
        )
        project.vendors.add(vendor)
        Image.objects.bulk_create(
            Image(project=project, file=f"projects/{project.pk}/{i}.jpg", file_name=f"{i}.jpg",
                  width=IMAGE_W, height=IMAGE_H, sha256=f"{stamp}-{i}")
            for i in range(images)
        )
        users = User.objects.bulk_create(User(username=f"bench{stamp}-{i}", password="!") for i in range(annotators))
        Membership.objects.bulk_create(Membership(user=u, vendor=vendor, role="annotator") for u in users)
        ProjectAnnotator.objects.bulk_create(ProjectAnnotator(project=project, user=u, vendor=vendor) for u in users)
        now = timezone.now()
        InstructionsAcknowledgement.objects.bulk_create(
            InstructionsAcknowledgement(user=u, instructions=instructions, version=1, acknowledged_at=now)
            for u in users
        )
        tokens = Token.objects.bulk_create(Token(key=Token.generate_key(), user=u) for u in users)
    from django.db import connection

    if connection.vendor == "postgresql":
        # A bulk import is followed by autovacuum's ANALYZE in production; without
        # statistics the planner treats every table as empty.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {"project": project.pk, "tokens": [t.key for t in tokens]}


def check(project_id: int, replicas: int, acknowledged: list[list[int]], refused: list[int]) -> dict:
    """Count every invariant violation of one run."""
    _django()
    from collections import Counter

    from django.db.models import Count

    from annotation.models import Annotation, Assignment, Image
    from jointly.jobs.models import JobRun

    violations: dict[str, int] = {}

    def report(name: str, count: int) -> None:
        violations[name] = count

    submitted = Assignment.objects.filter(project_id=project_id, state="submitted")
    per_image = Counter(submitted.values_list("image_id", flat=True))
    # Finished: out of annotation. In-process jobs (the embedded default) score an image
    # right away, so it may already be accepted or in review rather than "scoring".
    finished = set(
        Image.objects.filter(project_id=project_id).exclude(status__in=["new", "annotating"])
        .values_list("pk", flat=True)
    )
    report("images over the replica limit", sum(1 for n in per_image.values() if n > replicas))
    distinct = dict(
        submitted.values("image_id").annotate(n=Count("annotator_id", distinct=True)).values_list("image_id", "n")
    )
    report("finished images without exactly 3 distinct annotators",
           sum(1 for image_id in finished if distinct.get(image_id) != replicas or per_image[image_id] != replicas))
    report("images with all replicas but not finished",
           sum(1 for image_id, n in per_image.items() if n >= replicas and image_id not in finished))
    pairs = list(Assignment.objects.filter(project_id=project_id).values_list("image_id", "annotator_id"))
    report("annotator twice on an image", len(pairs) - len(set(pairs)))
    stored = dict(submitted.values_list("pk", "annotation_id"))
    report("lost submits (acknowledged, not stored as told)",
           sum(1 for assignment_id, annotation_id in acknowledged if stored.get(assignment_id) != annotation_id))
    report("refused late submits stored anyway",
           Assignment.objects.filter(pk__in=refused).exclude(state="expired").count()
           + Assignment.objects.filter(pk__in=refused, annotation__isnull=False).count())
    annotations = Annotation.objects.filter(image__project_id=project_id, source="annotator")
    report("duplicate annotations", annotations.count() - len(set(annotations.values_list("image_id", "annotator_id"))))
    report("submitted assignments without their own annotation",
           len(stored) - len({a for a in stored.values() if a is not None}))
    report("annotations without a submitted assignment", annotations.count() - len(stored))
    live = Counter(
        Assignment.objects.filter(project_id=project_id, state__in=["leased", "submitted"]).values_list("image_id", flat=True)
    )
    report("images whose counters disagree with their assignments", sum(
        1 for image_id, taken, done in Image.objects.filter(project_id=project_id).values_list(
            "pk", "slots_taken", "submitted_count")
        if taken != live.get(image_id, 0) or done != per_image.get(image_id, 0)
    ))
    jobs = Counter(
        kwargs["image_id"] for kwargs in JobRun.objects.filter(func="review.jobs.score_image").values_list("kwargs", flat=True)
        if kwargs.get("image_id") in finished
    )
    report("finished images without exactly one scoring job", sum(1 for image_id in finished if jobs[image_id] != 1))
    return {"violations": violations, "finished_images": len(finished), "submitted": len(stored)}


def _db_subprocess(env: dict, *args: str) -> dict:
    out = subprocess.run([PYTHON, __file__, *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{args[0]} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- orchestration ---------------------------------------------------------------------


def prepare_database(backend: str, env: dict) -> None:
    if backend == "postgres":
        import psycopg

        url = env["DATABASE_URL"].split("?", 1)[0]
        name = url.rsplit("/", 1)[1]
        admin_url = url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    else:
        path = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)


def flush_redis(url: str) -> None:
    """Empty the bench's own Redis database (its queued scoring jobs)."""
    if url:
        from redis import Redis

        Redis.from_url(url).flushdb()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict, port: int, workers: int, threads: int, worker_class: str) -> subprocess.Popen:
    command = [
        str(Path(PYTHON).parent / "gunicorn"), "jointly.wsgi", "-b", f"127.0.0.1:{port}",
        "-w", str(workers), "-k", worker_class, "--threads", str(threads), "--keep-alive", "30",
        "--backlog", "2048", "--log-level", "warning",
        # Import Django and the app once in the master: workers fork warm instead of
        # each paying seconds of imports on its first requests, inside the measurement.
        "--preload",
    ]
    # The server's log goes to a file: 4xx lines (the refused late submits of an expiry
    # stress run) would drown the figures. Tracebacks from it are reported after the run.
    log = tempfile.NamedTemporaryFile("w+", prefix="bench_tasks_gunicorn_", suffix=".log", delete=False)
    server = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True, stdout=log, stderr=log)
    server.log_path = log.name
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/admin/login/", timeout=5).status_code < 500:
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise SystemExit("gunicorn exited during start-up")
        time.sleep(0.2)
    stop_server(server)
    raise SystemExit("gunicorn did not answer within 60 s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    log = Path(server.log_path)
    text = log.read_text(errors="replace")
    if "Traceback" in text:
        print(f"    server log has tracebacks (last 2000 characters of {log}):\n{text[-2000:]}")
    else:
        log.unlink(missing_ok=True)


def submission(seed_value: int) -> dict:
    x0 = 50.0 + (seed_value % 300)
    keypoints = []
    for i in range(KEYPOINTS):
        keypoints += [x0 + 5.0 * i, 60.0 + 10.0 * i, 2]
    return {"instances": [{"bbox": [x0 - 10, 50.0, 5.0 * KEYPOINTS + 20, 10.0 * KEYPOINTS + 20],
                           "keypoints": keypoints}], "active_ms": 20000}


class StdlibClient:
    """A keep-alive HTTP/1.1 client on http.client: a fraction of httpx's CPU per request,
    which matters when the load generator shares two cores with the server it measures."""

    def __init__(self, port: int, token: str):
        import http.client

        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def request(self, method: str, path: str, payload=None) -> tuple[int, bytes]:
        body = json.dumps(payload).encode() if payload is not None else b""
        self.connection.request(method, path, body=body, headers=self.headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def post(self, path: str, payload=None) -> tuple[int, bytes]:
        return self.request("POST", path, payload)

    def close(self) -> None:
        self.connection.close()


class HttpxClient:
    def __init__(self, port: int, token: str):
        import httpx

        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Token {token}"}, timeout=120,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )

    def request(self, method: str, path: str, payload=None) -> tuple[int, bytes]:
        response = self.client.request(method, path, json=payload)
        return response.status_code, response.content

    def post(self, path: str, payload=None) -> tuple[int, bytes]:
        return self.request("POST", path, payload)

    def close(self) -> None:
        self.client.close()


CLIENTS = {"stdlib": StdlibClient, "httpx": HttpxClient}


def run_load(port: int, project_id: int, tokens: list[str], duration: float, think_ms: float,
             client_kind: str = "stdlib", on_start=None) -> dict:
    """N annotators as threads, one keep-alive connection each, started together."""
    import threading

    next_ms: list[float] = []
    submit_ms: list[float] = []
    acknowledged: list[list[int]] = []
    errors: list[str] = []
    refused: list[int] = []
    barrier = threading.Barrier(len(tokens) + 1)
    stop_at = [0.0]

    def annotator(token: str) -> None:
        client = CLIENTS[client_kind](port, token)
        # Warm-up outside the measurement: the first requests of a worker resolve the
        # URLconf and fill per-process caches. A read that changes nothing.
        for _ in range(2):
            client.request("GET", "/api/v1/vendors/")
        barrier.wait()
        try:
            while time.perf_counter() < stop_at[0]:
                t0 = time.perf_counter()
                status, body = client.post(f"/api/v1/projects/{project_id}/tasks/next/")
                next_ms.append((time.perf_counter() - t0) * 1000)
                if status == 204:
                    return
                if status not in (200, 201):
                    errors.append(f"next {status}: {body[:200]!r}")
                    continue
                assignment_id = json.loads(body)["id"]
                if think_ms:
                    time.sleep(think_ms / 1000)
                t0 = time.perf_counter()
                status, body = client.post(f"/api/v1/assignments/{assignment_id}/submit/", submission(assignment_id))
                submit_ms.append((time.perf_counter() - t0) * 1000)
                if status == 409 and b"given to another annotator" in body:
                    refused.append(assignment_id)  # its lease expired and the slot was reassigned
                    continue
                if status != 200:
                    errors.append(f"submit {status}: {body[:200]!r}")
                    continue
                acknowledged.append([assignment_id, json.loads(body)["annotation"]])
        except OSError as exc:
            errors.append(f"transport: {exc!r}")
        finally:
            client.close()

    threads = [threading.Thread(target=annotator, args=(t,), daemon=True) for t in tokens]
    for thread in threads:
        thread.start()
    if on_start:
        on_start()
    stop_at[0] = time.perf_counter() + duration
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=duration + 180)
    elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "next_ms": next_ms, "submit_ms": submit_ms, "acknowledged": acknowledged,
            "errors": errors, "refused": refused}


# --- CPU accounting (Linux /proc): where the machine's time went during a run ---------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_cpu(pid: int, part: str = "both") -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    user, system = int(fields[11]), int(fields[12])
    return {"both": user + system, "system": system}[part] / CLOCK_TICKS


def _processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command line) of every process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        found.append((int(entry.name), ppid, cmdline))
    return found


def _machine_busy() -> tuple[float, float]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLOCK_TICKS, sum(values) / CLOCK_TICKS


def cpu_snapshot(server_pid: int, database_name: str) -> dict:
    processes = _processes()
    server = [pid for pid, ppid, _ in processes if pid == server_pid or ppid == server_pid]
    database = [pid for pid, _, cmd in processes if cmd.startswith("postgres:") and f" {database_name} " in cmd]
    busy, total = _machine_busy()
    return {
        "server": sum(_process_cpu(pid) for pid in server),
        "server_system": sum(_process_cpu(pid, "system") for pid in server),
        "database": {pid: _process_cpu(pid) for pid in database},
        "generator": _process_cpu(os.getpid()),
        "busy": busy, "total": total,
    }


def cpu_report(before: dict, after: dict, cycles: int) -> str:
    if not cycles:
        return ""
    database = sum(cpu - before["database"].get(pid, 0.0) for pid, cpu in after["database"].items())
    busy = (after["busy"] - before["busy"]) / max(after["total"] - before["total"], 1e-9)
    per_cycle = {name: (after[name] - before[name]) * 1000 / cycles for name in ("server", "generator")}
    ours = after["server"] - before["server"] + database + after["generator"] - before["generator"]
    others = max(0.0, (after["busy"] - before["busy"]) - ours)
    elapsed = (after["total"] - before["total"]) / (os.cpu_count() or 1)
    kernel = (after["server_system"] - before["server_system"]) / max(after["server"] - before["server"], 1e-9)
    ours_per_cycle = ours * 1000 / cycles
    return (f"    CPU per cycle: server {per_cycle['server']:.1f} ms ({kernel:.0%} in the kernel), database "
            f"{database * 1000 / cycles:.1f} ms, load generator {per_cycle['generator']:.1f} ms | machine busy "
            f"{busy:.0%}, of which other processes {others / max(elapsed, 1e-9):.2f} cores | "
            f"CPU-bound capacity with both cores free ~{2000 / ours_per_cycle:.0f} cycles/s")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="postgres,sqlite")
    parser.add_argument("--sizes", default="50,200")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per configuration")
    parser.add_argument("--think-ms", type=float, default=0.0, help="labeling time between next and submit")
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--lease-seconds", type=int, default=600,
                        help="a lease shorter than a cycle makes leases expire mid-task: a stress test of reclaiming "
                             "(late submits whose slot went to someone else are refused with 409 and counted)")
    parser.add_argument("--workers", type=int, default=3)
    # Measured on this 2-core machine: single-threaded sync workers (one request each,
    # balanced through the shared accept queue) beat gthread's sticky keep-alive
    # connections on tail latency at the same throughput; more threads only add GIL
    # contention.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--client", choices=sorted(CLIENTS), default="stdlib",
                        help="HTTP client of the simulated annotators (httpx costs several times the CPU)")
    parser.add_argument("--database-url", default=os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jointly_loadbench"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4"),
                        help="Redis database for the PostgreSQL runs' job queues (flushed before and after)")
    parser.add_argument("--jobs", choices=["redis", "inline"], default="redis",
                        help="PostgreSQL runs: queue scoring jobs in Redis (as deployed) or run them in-process")
    parser.add_argument("--no-prepared-statements", dest="prepared_statements", action="store_false",
                        help="plan every statement per request (Django's default) instead of preparing them")
    parser.add_argument("--sqlite-path", default=str(Path(tempfile.gettempdir()) / "jointly_loadbench.sqlite3"))
    args = parser.parse_args()

    failures = 0
    print(f"# bench_tasks: {args.images} images, replicas {args.replicas}, gunicorn {args.workers} workers x "
          f"{args.threads} threads ({args.worker_class}), think {args.think_ms:g} ms, {args.client} client, {args.duration:g} s per run, "
          f"{os.cpu_count()} CPUs shared by server, database and load generator")
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
            url = args.database_url if backend == "postgres" else f"sqlite:///{args.sqlite_path}"
            if backend == "postgres" and args.prepared_statements and "?" not in url:
                # Server-side binding lets psycopg prepare the engine's repeated
                # statements once per connection instead of planning them per request.
                url += "?server_side_binding=true&prepare_threshold=2"
            # PostgreSQL runs as deployed: jobs go to Redis (nobody works the scoring queue
            # during the run). SQLite is the embedded default: no Redis, jobs run in-process.
            redis_url = args.redis_url if backend == "postgres" and args.jobs == "redis" else ""
            env = {**os.environ, "DATABASE_URL": url, "DEBUG": "0", "SECRET_KEY": "bench-" + "x" * 50,
                   "ALLOWED_HOSTS": "127.0.0.1,localhost", "DB_CONN_MAX_AGE": "600", "REDIS_URL": redis_url,
                   "LOG_LEVEL": "ERROR", "SECURE_SSL_REDIRECT": "0"}
            flush_redis(redis_url)
            prepare_database(backend, env)
            seeded = _db_subprocess(env, "_seed", str(args.images), str(size), str(args.replicas),
                                    str(args.lease_seconds))
            port = free_port()
            server = start_server(env, port, args.workers, args.threads, args.worker_class)
            database_name = url.split("?", 1)[0].rsplit("/", 1)[1] if backend == "postgres" else ""
            try:
                before = {}
                result = run_load(port, seeded["project"], seeded["tokens"], args.duration, args.think_ms,
                                  client_kind=args.client,
                                  on_start=lambda: before.update(cpu_snapshot(server.pid, database_name)))
                after = cpu_snapshot(server.pid, database_name)
            finally:
                stop_server(server)
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
                json.dump({"acknowledged": result["acknowledged"], "refused": result["refused"]}, handle)
            checked = _db_subprocess(env, "_check", str(seeded["project"]), str(args.replicas), handle.name)
            os.unlink(handle.name)
            flush_redis(redis_url)
            cycles = len(result["acknowledged"])
            bad = {k: v for k, v in checked["violations"].items() if v}
            failures += bool(bad) or bool(result["errors"])
            n, s = result["next_ms"], result["submit_ms"]
            print(
                f"{backend:8s} N={size:<4d} {cycles / result['elapsed']:7.1f} cycles/s ({cycles} in "
                f"{result['elapsed']:.1f} s) | next p50 {percentile(n, 50):6.1f} p95 {percentile(n, 95):6.1f} "
                f"p99 {percentile(n, 99):6.1f} ms | submit p50 {percentile(s, 50):6.1f} p95 {percentile(s, 95):6.1f} "
                f"p99 {percentile(s, 99):6.1f} ms | finished images {checked['finished_images']} | "
                f"late submits refused {len(result['refused'])} | errors {len(result['errors'])} | "
                f"invariant violations {sum(bad.values())}"
            )
            print(cpu_report(before, after, cycles))
            for name, count in bad.items():
                print(f"    VIOLATION {name}: {count}")
            for error in result["errors"][:5]:
                print(f"    error: {error}")
            sys.stdout.flush()
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_seed":
        print(json.dumps(seed(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "_check":
        with open(sys.argv[4]) as handle:
            outcome = json.load(handle)
        print(json.dumps(check(int(sys.argv[2]), int(sys.argv[3]), outcome["acknowledged"], outcome["refused"])))
    else:
        sys.exit(main())
