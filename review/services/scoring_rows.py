"""What scoring reads: every counted annotator label of a set of images, as flat NumPy arrays.

A project rescore reads hundreds of thousands of annotations. Building a
model per row, or walking every instance in a Python loop, cost more than
the agreement engine itself. One query per chunk of images returns one row
per annotation with its instances as JSON text (PostgreSQL renders jsonb as
text faster than any other way out of it: splitting the instances there, or
casting to float8, costs it two to four times more), orjson parses the whole
chunk's text in one call, and comprehensions hand NumPy the lists it stacks.

While Python parses one chunk, a helper thread already waits for the next
one on the same connection: the database renders and Python parses at the
same time, on different cores.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import orjson
from django.db import connection

from annotation.models import Annotation, Assignment, Image, SkeletonSpec
from review.agreement import InstanceBatch

from .scoring_sql import id_filter

Source = Annotation.Source
#: Images per read query: big enough that per-query costs vanish, small enough that parsing one
#: chunk overlaps reading the next for most of the read.
READ_CHUNK = 10_000


@dataclass
class ImageRows:
    """The images being scored, in primary-key order."""

    ids: np.ndarray  # (I,) int64
    size: np.ndarray  # (I, 2) float64 width, height
    is_gold: np.ndarray  # (I,) bool

    def __len__(self) -> int:
        return int(self.ids.size)

    @classmethod
    def of(cls, images_qs) -> "ImageRows":
        rows = list(images_qs.order_by("pk").values_list("pk", "width", "height", "is_gold"))
        ids = np.fromiter((r[0] for r in rows), np.int64, count=len(rows))
        size = np.array([(r[1], r[2]) for r in rows], dtype=np.float64).reshape(-1, 2)
        return cls(ids=ids, size=size, is_gold=np.fromiter((r[3] for r in rows), bool, count=len(rows)))


@dataclass
class Rows:
    """The batch plus where each of its instances came from."""

    batch: InstanceBatch
    images: ImageRows
    annotation_id: np.ndarray  # (N,) Annotation.pk of each instance
    instance_index: np.ndarray  # (N,) position in that annotation's `instances`
    annotators: np.ndarray  # (S,) user ids, index = batch source
    inputs: list[dict]  # per image: {annotation id: version}
    assignments: tuple[np.ndarray, np.ndarray]
    gold: InstanceBatch | None
    #: per image: {annotator id: instances drawn} of annotations over the project's cap
    oversized: list[dict] = field(default_factory=list)


def _annotations_sql(ids_sql: str) -> str:
    """One row per counted annotator label: id, image, annotator, version, instances as JSON text."""
    a, s = Annotation._meta.db_table, Assignment._meta.db_table
    instances = "a.instances::text" if connection.vendor == "postgresql" else "a.instances"
    # Labels set aside by a reassigning rejection no longer count.
    return (f"SELECT a.id, a.image_id, a.annotator_id, a.version, {instances} FROM {a} AS a "
            f"WHERE a.image_id {ids_sql} AND a.source = '{Source.ANNOTATOR}' AND NOT EXISTS ("
            f"SELECT 1 FROM {s} AS s WHERE s.annotation_id = a.id AND s.state = '{Assignment.State.REJECTED}') "
            "ORDER BY a.image_id, a.annotator_id")


def _fetch(raw, ids: np.ndarray) -> list[tuple]:
    """`raw`: the psycopg connection (from the helper thread) or Django's (SQLite, or one chunk)."""
    ids_sql, params = id_filter(ids.tolist(), "ids")
    with raw.cursor() as cursor:
        cursor.execute(_annotations_sql(ids_sql), params)
        return cursor.fetchall()


def _submitted(ids: np.ndarray) -> list[tuple[int, int]]:
    ids_sql, params = id_filter(ids.tolist(), "ids")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT image_id, annotator_id FROM {Assignment._meta.db_table} "
                       f"WHERE image_id {ids_sql} AND state = %(state)s",
                       {**params, "state": Assignment.State.SUBMITTED})
        return cursor.fetchall()


def _chunks_of_annotations(images: ImageRows):
    """Yield each chunk's rows; the next chunk's query runs in a helper thread meanwhile (PostgreSQL)."""
    starts = range(0, len(images), READ_CHUNK)
    pieces = [images.ids[i:i + READ_CHUNK] for i in starts]
    connection.ensure_connection()
    raw = connection.connection  # the driver's connection: Django's wrapper refuses other threads
    if connection.vendor != "postgresql" or len(pieces) < 2:
        for piece in pieces:
            yield _fetch(connection, piece)
        return
    # psycopg connections are thread-safe (one statement at a time); the main thread only parses meanwhile.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_fetch, raw, pieces[0])
        for nxt in pieces[1:]:
            rows = pending.result()
            pending = pool.submit(_fetch, raw, nxt)
            yield rows
        yield pending.result()


def load_rows(images: ImageRows, spec: SkeletonSpec, max_instances: int | None = None) -> Rows:
    """The annotations of `images` as one InstanceBatch, with assignments and gold (no query per image).

    An annotation with more than `max_instances` instances (submit refuses them, but
    older rows may hold them) contributes its first `max_instances` only, and is
    recorded in `oversized`: matching costs grow with the square of the instances per
    image, so one absurd annotation must not stall the whole scoring queue.
    """
    k = spec.num_keypoints
    cap = None if max_instances is None else int(max_instances)
    n_img = len(images)
    meta, keypoints, boxes, areas = [], [], [], []
    for rows in _chunks_of_annotations(images):  # parse one chunk while the next one is read
        labels = orjson.loads("[" + ",".join(r[4] for r in rows) + "]")
        meta.extend((*r[:4], len(instances)) for r, instances in zip(rows, labels))
        kept = [inst for instances in labels for inst in instances[:cap]]
        keypoints.append(np.array([inst["keypoints"] for inst in kept], dtype=np.float64).reshape(-1, k, 3))
        boxes.append(np.array([inst["bbox"] for inst in kept], dtype=np.float64).reshape(-1, 4))
        areas.append(np.array([inst.get("area") for inst in kept], dtype=np.float64).reshape(-1))  # None -> NaN
    keypoints = np.concatenate(keypoints) if keypoints else np.zeros((0, k, 3))
    boxes = np.concatenate(boxes) if boxes else np.zeros((0, 4))
    areas = np.concatenate(areas) if areas else np.zeros(0)

    ann = np.array(meta, dtype=np.int64).reshape(-1, 5)  # id, image id, annotator, version, instances drawn
    submitted = np.array(_submitted(images.ids), dtype=np.int64).reshape(-1, 2)
    annotators = np.unique(np.concatenate([ann[:, 2], submitted[:, 1]]))
    ann_image = np.searchsorted(images.ids, ann[:, 1])
    kept = ann[:, 4] if cap is None else np.minimum(ann[:, 4], cap)
    inputs: list[dict] = [{} for _ in range(n_img)]
    for img, pk, version in zip(ann_image.tolist(), ann[:, 0].tolist(), ann[:, 3].tolist()):
        inputs[img][str(pk)] = version
    oversized: list[dict] = [{} for _ in range(n_img)]
    over = np.flatnonzero(ann[:, 4] > cap) if cap is not None else []
    for row in over:  # rare: annotations over the project's cap
        oversized[ann_image[row]][int(ann[row, 2])] = int(ann[row, 4])

    owner = np.repeat(np.arange(len(ann)), kept)  # annotation row of each instance
    starts = np.cumsum(kept) - kept
    batch = InstanceBatch.from_arrays(
        keypoints, boxes, ann_image[owner], np.searchsorted(annotators, ann[owner, 2]), area=areas,
        n_images=n_img, n_sources=max(len(annotators), 1),
    )
    return Rows(
        batch=batch, images=images, annotation_id=ann[owner, 0],
        instance_index=np.arange(len(owner), dtype=np.int64) - starts[owner], annotators=annotators,
        inputs=inputs,
        assignments=(np.searchsorted(images.ids, submitted[:, 0]), np.searchsorted(annotators, submitted[:, 1])),
        gold=_load_gold(images, k), oversized=oversized,
    )


def _load_gold(images: ImageRows, k: int) -> InstanceBatch | None:
    gold_ids = images.ids[images.is_gold]
    if not gold_ids.size:
        return None
    rows = [
        (int(np.searchsorted(images.ids, image_id)), inst)
        for image_id, instances in Annotation.objects.filter(image_id__in=gold_ids.tolist(), source=Source.GOLD)
        .values_list("image_id", "instances")
        for inst in instances
    ]
    if not rows:
        return None
    return InstanceBatch.from_arrays(
        np.asarray([inst["keypoints"] for _, inst in rows], dtype=np.float64).reshape(-1, k, 3),
        np.asarray([inst["bbox"] for _, inst in rows], dtype=np.float64).reshape(-1, 4),
        np.asarray([i for i, _ in rows], dtype=np.int64), np.zeros(len(rows), dtype=np.int64),
        area=np.asarray([inst.get("area", np.nan) for _, inst in rows], dtype=np.float64),
        n_images=len(images),
    )
