"""COCO keypoints import/export at COCO train2017 scale, against pycocotools' own loading time.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/jointly_bench .venv/bin/python bench/bench_coco.py

Builds a person-keypoints file of 150,000 instances over 60,000 images with a
fixed seed, then measures, in one run:

- pycocotools.coco.COCO(path): loading and indexing the same file;
- our import through the service the RQ job runs (read, validate every
  instance, create the 60,000 image records, write the annotations), into
  PostgreSQL, with create_missing_images;
- our export of that source to a file (streamed);

and checks that pycocotools loads the export and that every instance's
keypoints, visibilities and bbox come back equal (1e-6). The database is the
bench's own: it is created if missing, migrated, and its annotation tables
are emptied first.

Targets on the 2-core development machine: import < 60 s, export < 20 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jointly_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jointly.settings")
os.environ.setdefault("DEBUG", "1")  # a development run, like the quick start (settings default to off)
os.environ["REDIS_URL"] = ""  # jobs in-process: the bench measures the work, not the queue

import numpy as np  # noqa: E402
import orjson  # noqa: E402


def admin_connection(url: str):
    """An autocommit connection to the `postgres` database of DATABASE_URL's server, and the bench
    database's name (creating and copying databases cannot run inside the one being made)."""
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(url)
    if "postgresql" not in config["ENGINE"]:
        raise SystemExit("The bench needs PostgreSQL: set DATABASE_URL to a postgres:// URL.")
    conn = psycopg.connect(
        dbname="postgres", user=config["USER"] or "postgres", password=config["PASSWORD"] or None,
        host=config["HOST"] or "127.0.0.1", port=config["PORT"] or 5432, autocommit=True,
    )
    return conn, config["NAME"]


def ensure_database(url: str) -> None:
    admin, name = admin_connection(url)
    with admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')


COCO17 = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
]


def build_coco(path: Path, n_images: int, n_instances: int, seed: int, names: list[str], edges) -> None:
    """A person keypoints file shaped like COCO train2017: boxes inside images, keypoints inside boxes."""
    rng = np.random.default_rng(seed)
    k = len(names)
    widths = rng.choice([640, 480, 500, 427, 612], n_images)
    heights = rng.choice([480, 640, 375, 333, 427], n_images)
    # Every image gets at least one person, the rest spread at random.
    image_of = np.concatenate([np.arange(n_images), rng.integers(0, n_images, n_instances - n_images)])
    image_of.sort(kind="stable")
    w_img, h_img = widths[image_of], heights[image_of]
    bw = np.round(rng.uniform(0.1, 0.6, n_instances) * w_img, 2)
    bh = np.round(rng.uniform(0.2, 0.9, n_instances) * h_img, 2)
    bx = np.round(rng.uniform(0, 1, n_instances) * (w_img - bw), 2)
    by = np.round(rng.uniform(0, 1, n_instances) * (h_img - bh), 2)
    x = np.round(bx[:, None] + rng.uniform(0, 1, (n_instances, k)) * bw[:, None], 2)
    y = np.round(by[:, None] + rng.uniform(0, 1, (n_instances, k)) * bh[:, None], 2)
    v = rng.choice([0, 1, 2], (n_instances, k), p=[0.35, 0.1, 0.55])
    x[v == 0] = 0
    y[v == 0] = 0
    area = np.round(bw * bh * rng.uniform(0.4, 0.9, n_instances), 2)
    keypoints = np.stack([x, y, v], axis=2).reshape(n_instances, 3 * k).tolist()
    visibility = v.tolist()
    boxes = np.stack([bx, by, bw, bh], axis=1).tolist()
    areas, image_ids = area.tolist(), (image_of + 1).tolist()
    num = (v > 0).sum(axis=1).tolist()
    annotations = []
    for i in range(n_instances):
        row = keypoints[i]
        row[2::3] = visibility[i]
        annotations.append({
            "segmentation": [], "num_keypoints": num[i], "area": areas[i], "iscrowd": 0, "keypoints": row,
            "image_id": image_ids[i], "bbox": boxes[i], "category_id": 1, "id": 900_000 + i,
        })
    images = [
        {"license": 1, "file_name": f"{i + 1:012d}.jpg", "coco_url": "", "height": int(h), "width": int(w),
         "date_captured": "2013-11-14 11:18:45", "flickr_url": "", "id": i + 1}
        for i, (w, h) in enumerate(zip(widths.tolist(), heights.tolist()))
    ]
    data = {
        "info": {"description": "Jointly bench (synthetic, COCO train2017 scale)", "year": 2026},
        "licenses": [{"id": 1, "name": "synthetic", "url": ""}],
        "images": images, "annotations": annotations,
        "categories": [{"supercategory": "person", "id": 1, "name": "person", "keypoints": names,
                        "skeleton": [[a + 1, b + 1] for a, b in edges]}],
    }
    path.write_bytes(orjson.dumps(data))


def instance_table(data: dict, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(image file name, bbox + keypoints) rows in file order, keypoints in `names` order."""
    file_of = {img["id"]: img["file_name"] for img in data["images"]}
    order = np.array([data["categories"][0]["keypoints"].index(n) for n in names])
    anns = data["annotations"]
    files = np.array([file_of[a["image_id"]] for a in anns])
    kps = np.array([a["keypoints"] for a in anns], dtype=np.float64).reshape(len(anns), -1, 3)[:, order, :]
    boxes = np.array([a["bbox"] for a in anns], dtype=np.float64)
    return files, np.concatenate([boxes, kps.reshape(len(anns), -1)], axis=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=60_000)
    parser.add_argument("--instances", type=int, default=150_000)
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--keep", action="store_true", help="Keep the generated and exported files.")
    args = parser.parse_args()

    ensure_database(os.environ["DATABASE_URL"])
    workdir = Path(tempfile.mkdtemp(prefix="jointly-bench-"))
    os.environ["MEDIA_ROOT"] = str(workdir / "media")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from pycocotools.coco import COCO

    from annotation.models import Annotation, Image, Organization, Project
    from annotation.services.coco_export import ExportSelection, write_coco
    from annotation.services.coco_import import ImportOptions, import_coco
    from annotation.services.presets import load_presets

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:  # the bench's own database: start from empty annotation tables
        cursor.execute(
            f"TRUNCATE {Annotation._meta.db_table}, {Image._meta.db_table}, {Project._meta.db_table} CASCADE"
        )
    skeleton = next(s for s, _ in load_presets() if s.keypoints.count() == 17 and "person" in s.name)
    organization, _ = Organization.objects.get_or_create(name="Bench")
    project = Project.objects.create(organization=organization, name=f"bench-{int(time.time())}", skeleton=skeleton)
    spec = skeleton.spec()

    source_path = workdir / "person_keypoints_bench.json"
    t = time.perf_counter()
    build_coco(source_path, args.images, args.instances, args.seed, list(spec.names), spec.edges)
    print(f"generated {source_path.name}: {args.instances:,} instances over {args.images:,} images, "
          f"{source_path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t:.1f} s")

    t = time.perf_counter()
    COCO(str(source_path))
    pycocotools_load = time.perf_counter() - t

    t = time.perf_counter()
    with open(source_path, "rb") as handle:
        result = import_coco(project, handle, ImportOptions(create_missing_images=True))
    import_seconds = time.perf_counter() - t
    assert result["instances"] == args.instances and result["images_created"] == args.images, result

    export_path = workdir / "export.json"
    t = time.perf_counter()
    size = write_coco(project, export_path, ExportSelection(source="import"))
    export_seconds = time.perf_counter() - t

    t = time.perf_counter()
    exported_coco = COCO(str(export_path))
    export_load = time.perf_counter() - t
    assert len(exported_coco.getAnnIds()) == args.instances

    original = orjson.loads(source_path.read_bytes())
    exported = orjson.loads(export_path.read_bytes())
    files_in, table_in = instance_table(original, list(spec.names))
    files_out, table_out = instance_table(exported, list(spec.names))
    # Both files list each image's instances in file order, images by id: compare row by row.
    by_file_in, by_file_out = np.argsort(files_in, kind="stable"), np.argsort(files_out, kind="stable")
    assert (files_in[by_file_in] == files_out[by_file_out]).all(), "instances moved between images"
    worst = float(np.abs(table_in[by_file_in] - table_out[by_file_out]).max())
    assert worst <= 1e-6, f"round trip differs by {worst}"

    print(f"pycocotools COCO(path) load     {pycocotools_load:7.2f} s")
    print(f"import (validate + write)       {import_seconds:7.2f} s   "
          f"{import_seconds / pycocotools_load:5.2f}x pycocotools load   target < 60 s: "
          f"{'met' if import_seconds < 60 else 'MISSED'}")
    print(f"export (streamed to file)       {export_seconds:7.2f} s   "
          f"{export_seconds / pycocotools_load:5.2f}x pycocotools load   target < 20 s: "
          f"{'met' if export_seconds < 20 else 'MISSED'}")
    print(f"export size {size / 1e6:.1f} MB; pycocotools loads it in {export_load:.2f} s; "
          f"round trip: {args.instances:,} instances equal (max abs diff {worst:.1e})")
    if result["warnings"]:
        print("import warnings:", "; ".join(result["warnings"]))
    print(f"peak memory of this process: {peak_rss_mb():.0f} MB (generation and checks included)")
    if args.keep:
        print(f"files kept in {workdir}")
    else:
        shutil.rmtree(workdir)
    return 0


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    raise SystemExit(main())
