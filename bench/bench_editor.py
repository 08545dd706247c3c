"""The annotator workspace in headless Chromium: drag frame time and submit-to-next-image time.

    .venv/bin/python bench/bench_editor.py                          # SQLite (embedded default) and PostgreSQL
    .venv/bin/python bench/bench_editor.py --backends sqlite --submits 5

For each backend it migrates a fresh database, seeds a project with a
133-keypoint whole-body skeleton (COCO-17 body, 6 feet, 68 face, 2 x 21
hands, built from the presets) and 1920x1080 JPEG images, serves it with
`manage.py runserver` (DEBUG, so static files are served; images through
/api/v1/images/{id}/file/ with the session), and
drives Debian's Chromium (1280x720) through Playwright:

1. drag frame time: the first task carries a draft of 30 instances of the
   whole-body skeleton (3,990 points on screen); one keypoint is dragged in
   300 pointer moves; the figure is the page's own drawing work per frame
   (Renderer.frameTimes: every canvas layer redrawn in that frame). Targets:
   median < 8 ms, p95 < 16 ms. A pan of the same scene (every layer redrawn
   each frame) is printed for comparison.
2. submit to next image drawn: once the task leased ahead (tasks/next/?ahead=1)
   has its image decoded, Enter is pressed; the figure is the time from the
   key to the first frame that draws the next image (it includes the submit
   round trip, which the page waits for). Target: < 100 ms. The baseline
   beside it is the same submit when nothing was leased ahead (submit, then
   tasks/next, then the image fetched and decoded).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tasks import free_port, prepare_database, stop_server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
WIDTH, HEIGHT = 1920, 1080
INSTANCES = 30
PASSWORD = "bench-editor-pass"


# --- database side (runs in a subprocess with DATABASE_URL set) --------------------------


def whole_body_definition() -> dict:
    """133 keypoints in COCO-WholeBody order, edges and flip pairs from the body, face and hand presets."""
    sys.path.insert(0, str(ROOT))
    presets = ROOT / "annotation" / "presets"
    body = json.loads((presets / "coco17_person.json").read_text())
    face = json.loads((presets / "face68.json").read_text())
    hand = json.loads((presets / "hand21.json").read_text())
    feet = ["left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel"]
    names = (
        list(body["keypoints"]) + feet + [f"face_{n}" for n in face["keypoints"]]
        + [f"left_hand_{n}" for n in hand["keypoints"]] + [f"right_hand_{n}" for n in hand["keypoints"]]
    )
    offsets = {"body": 0, "face": 23, "left_hand": 91, "right_hand": 112}
    edges = [(a - 1, b - 1) for a, b in body["skeleton"]]  # COCO's are 1-based
    edges += [(15, 17), (15, 18), (15, 19), (16, 20), (16, 21), (16, 22)]
    edges += [(a - 1 + offsets["face"], b - 1 + offsets["face"]) for a, b in face["skeleton"]]
    for side in ("left_hand", "right_hand"):
        edges += [(a - 1 + offsets[side], b - 1 + offsets[side]) for a, b in hand["skeleton"]]
    flip = {}
    for a, b in body.get("flip_pairs", []):
        flip[a - 1], flip[b - 1] = b - 1, a - 1
    for i in range(3):
        flip[17 + i], flip[20 + i] = 20 + i, 17 + i
    for i in range(21):
        flip[91 + i], flip[112 + i] = 112 + i, 91 + i
    keypoints = [
        {"name": name, "sigma": 0.05, "flip_partner": names[flip[i]] if i in flip else ""} for i, name in enumerate(names)
    ]
    return {"name": "bench-whole-body", "keypoints": keypoints, "edges": [[names[a], names[b]] for a, b in edges]}


def seed(media_root: str, images: int) -> dict:
    """Project, whole-body skeleton, images and one staffed annotator; returns ids."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jointly.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import hashlib

    import numpy as np
    from django.contrib.auth import get_user_model
    from PIL import Image as PILImage

    from annotation.models import Image, Membership, Organization, Project, ProjectAnnotator, Vendor
    from annotation.services.skeletons import create_skeleton

    skeleton = create_skeleton(whole_body_definition())
    organization = Organization.objects.create(name="Bench org")
    vendor = Vendor.objects.create(name="Bench vendor")
    project = Project.objects.create(
        organization=organization, name="Whole-body bench", skeleton=skeleton, replicas=1, lease_seconds=3600,
    )
    project.vendors.add(vendor)
    user = get_user_model().objects.create_user("bench-annotator", password=PASSWORD)
    Membership.objects.create(user=user, role=Membership.Role.ANNOTATOR, vendor=vendor)
    ProjectAnnotator.objects.create(project=project, user=user, vendor=vendor)
    rng = np.random.default_rng(0)
    rows = []
    for n in range(images):
        # A photo-sized JPEG with texture, so decoding costs what a real one does.
        yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
        pixels = np.stack([(xx * 255 // WIDTH + n * 40) % 256, yy * 255 // HEIGHT, (xx + yy) % 256], axis=2)
        pixels = (pixels + rng.integers(0, 40, size=pixels.shape)).clip(0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        PILImage.fromarray(pixels).save(buffer, format="JPEG", quality=85)
        name = f"projects/{project.pk}/bench{n}.jpg"
        path = Path(media_root) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buffer.getvalue())
        rows.append(Image(project=project, file=name, file_name=f"bench{n}.jpg", width=WIDTH, height=HEIGHT,
                          sha256=hashlib.sha256(buffer.getvalue()).hexdigest()))
    Image.objects.bulk_create(rows)
    return {"project": project.pk, "keypoints": len(skeleton.keypoints.all())}


def whole_body_instances(k: int) -> list[dict]:
    """30 instances on a 6 x 5 grid over the image, every keypoint labeled (one in seven occluded)."""
    import numpy as np

    rng = np.random.default_rng(1)
    instances = []
    cell_w, cell_h = WIDTH / 6, HEIGHT / 5
    for n in range(INSTANCES):
        x0, y0 = (n % 6) * cell_w, (n // 6) * cell_h
        xs = x0 + 10 + rng.random(k) * (cell_w - 20)
        ys = y0 + 10 + rng.random(k) * (cell_h - 20)
        keypoints = []
        for i in range(k):
            keypoints += [round(float(xs[i]), 2), round(float(ys[i]), 2), 1 if i % 7 == 3 else 2]
        instances.append({"bbox": [x0 + 5, y0 + 5, cell_w - 10, cell_h - 10], "keypoints": keypoints,
                          "skipped": [False] * k})
    return instances


# --- orchestration ---------------------------------------------------------------------


def start_runserver(env: dict, port: int) -> subprocess.Popen:
    import httpx

    log = tempfile.NamedTemporaryFile("w+", prefix="bench_editor_server_", suffix=".log", delete=False)
    server = subprocess.Popen(
        [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env, cwd=ROOT, start_new_session=True, stdout=log, stderr=log,
    )
    server.log_path = log.name
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"runserver exited during start-up; see {log.name}")
        time.sleep(0.2)
    stop_server(server)
    raise SystemExit("runserver did not answer within 60 s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def drive(base: str, project_id: int, k: int, submits: int) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 720}, device_scale_factor=1)
        if os.environ.get("BENCH_DEBUG"):
            page.on("console", lambda m: print("console:", m.text))
            page.on("response", lambda r: print("response:", r.status, r.request.method, r.url))
        page.goto(f"{base}/accounts/login/")
        page.fill("#id_username", "bench-annotator")
        page.fill("#id_password", PASSWORD)
        page.click("#sign-in")
        page.wait_for_url(f"{base}/")
        # Lease the first task and give it a draft of 30 whole-body instances, as a person's earlier work.
        csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
        headers = {"X-CSRFToken": csrf, "Content-Type": "application/json"}
        task = page.request.post(f"{base}/api/v1/projects/{project_id}/tasks/next/", headers=headers).json()
        draft = {"instances": whole_body_instances(k), "selected": {"instance": 0, "keypoint": 0}}
        saved = page.request.put(f"{base}/api/v1/assignments/{task['id']}/", headers=headers, data=json.dumps({"draft": draft}))
        assert saved.ok, saved.text()
        page.goto(f"{base}/label/{project_id}/")
        page.wait_for_function("window.jointly && window.jointly.task && window.jointly.labels.instances.length === 30")
        page.wait_for_timeout(500)

        # 1. Drag the selected instance's first keypoint.
        start = page.evaluate("window.jointly.viewport.toScreen(...window.jointly.labels.instances[0].keypoints.slice(0, 2))")
        box = page.locator("#stage").bounding_box()
        x0, y0 = box["x"] + start[0], box["y"] + start[1]
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.evaluate("window.jointly.renderer.frameTimes.length = 0")
        for step in range(300):
            page.mouse.move(x0 + 150 * (step % 100) / 100, y0 + 60 * ((step // 100) % 2))
        page.mouse.up()
        page.wait_for_timeout(100)
        drag = page.evaluate("window.jointly.renderer.frameTimes.slice()")

        # The same scene panned: every layer (3,990 points) redrawn each frame.
        page.mouse.move(box["x"] + 600, box["y"] + 300)
        page.keyboard.down("Space")
        page.mouse.down()
        page.evaluate("window.jointly.renderer.frameTimes.length = 0")
        for step in range(100):
            page.mouse.move(box["x"] + 600 + step % 50, box["y"] + 300 + step % 30)
        page.mouse.up()
        page.keyboard.up("Space")
        page.wait_for_timeout(100)
        pan = page.evaluate("window.jointly.renderer.frameTimes.slice()")

        # 2. Submit to next image drawn, with the next task leased and fetched ahead.
        ahead_ms, plain_ms = [], []
        for n in range(submits):
            prefetched = n % 2 == 0
            page.wait_for_function("window.jointly.ahead && window.jointly.ahead.ready")
            if not prefetched:
                # Baseline: forget what was leased ahead, so submit waits for its answer, then leases
                # (the plain next promotes the lease taken ahead) and fetches the image.
                page.evaluate("window.jointly.ahead = null")
            stage = page.locator("#stage").bounding_box()
            page.mouse.click(stage["x"] + 300, stage["y"] + 200)
            count = page.evaluate("window.jointly.timings.length")
            page.keyboard.press("Enter")
            page.wait_for_function("n => window.jointly.timings.length > n", arg=count)
            (ahead_ms if prefetched else plain_ms).append(page.evaluate("window.jointly.timings.at(-1)"))
        browser.close()
    return {"drag": drag, "pan": pan, "ahead": ahead_ms, "plain": plain_ms}


def run(backend: str, url: str, submits: int) -> dict:
    media = tempfile.mkdtemp(prefix="bench_editor_media_")
    env = {**os.environ, "DATABASE_URL": url, "MEDIA_ROOT": media, "DEBUG": "1", "REDIS_URL": "", "LOG_LEVEL": "WARNING"}
    prepare_database(backend, env)
    out = subprocess.run([PYTHON, __file__, "seed", media, str(submits + 2)], env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"seed failed:\n{out.stderr[-4000:]}")
    ids = json.loads(out.stdout.strip().splitlines()[-1])
    port = free_port()
    server = start_runserver(env, port)
    try:
        return drive(f"http://127.0.0.1:{port}", ids["project"], ids["keypoints"], submits)
    finally:
        stop_server(server)


def summary(name: str, values: list[float], target: str = "") -> str:
    if not values:
        return f"  {name:<44} no samples"
    return (f"  {name:<44} n={len(values):<4} median {statistics.median(values):7.2f} ms   "
            f"p95 {percentile(values, 0.95):7.2f} ms   max {max(values):7.2f} ms  {target}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "seed":
        print(json.dumps(seed(sys.argv[2], int(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/jointly_bench_editor"))
    parser.add_argument("--submits", type=int, default=10, help="submits per backend, alternating with and without a lease ahead")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        url = args.pg_url if backend == "postgres" else f"sqlite:///{tempfile.gettempdir()}/bench_editor.sqlite3"
        result = run(backend, url, args.submits)
        print(f"{backend}: 30 instances x 133 keypoints on screen, headless Chromium 1280x720 (software canvas)")
        print(summary("drag one keypoint: drawing per frame", result["drag"], "(target median < 8, p95 < 16)"))
        print(summary("pan: every layer redrawn per frame", result["pan"]))
        print(summary("submit -> next image drawn, leased ahead", result["ahead"], "(target < 100)"))
        print(summary("submit -> next image drawn, baseline (no lease ahead)", result["plain"]))


if __name__ == "__main__":
    main()
