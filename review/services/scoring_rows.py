"""What scoring reads: every counted annotator label of a set of images, as flat NumPy arrays.

A project rescore reads hundreds of thousands of annotations (tens of
millions of numbers). Building a model per row, or a Python float per
number, cost more than the agreement engine itself, and so did PostgreSQL
turning JSON numbers into floats on every read. On PostgreSQL each label's
numbers are therefore read from `label_numbers`, a binary column the
database generates from the JSON when the label is written (annotation
migration 0010): one query per chunk of images, and NumPy reads the bytes as
they are. SQLite (the embedded default, small projects) reads the JSON text
and orjson parses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import orjson
import psycopg
from django.db import connection

from annotation.models import Annotation, Assignment, SkeletonSpec
from jointly.bulk import is_postgresql
from review.agreement import InstanceBatch

from .scoring_sql import id_filter

Source = Annotation.Source
#: Images per read query: big enough that per-query costs vanish, small enough that a chunk's rows
#: stay tens of MB.
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


def _counted(ids_sql: str) -> str:
    """FROM/WHERE of the annotator labels that count for these images."""
    a, s = Annotation._meta.db_table, Assignment._meta.db_table
    # Labels set aside by a reassigning rejection no longer count.
    return (f"FROM {a} AS a WHERE a.image_id {ids_sql} AND a.source = '{Source.ANNOTATOR}' AND NOT EXISTS ("
            f"SELECT 1 FROM {s} AS s WHERE s.annotation_id = a.id AND s.state = '{Assignment.State.REJECTED}')")


#: The order the rows are scored in: image, annotator, label.
ORDER = "ORDER BY a.image_id, a.annotator_id, a.id"


def _width(k: int) -> int:
    """Numbers per instance in `label_numbers`: len(keypoints), 3k keypoints, len(bbox), 4 box, area."""
    return 3 * k + 7


def _read_chunk_postgresql(ids: np.ndarray, k: int, cap: int | None) -> tuple:
    """One chunk's labels in one query (one snapshot): ids and versions as integers, the numbers as
    the binary column PostgreSQL generated when each label was written (annotation migration 0010),
    read by NumPy as they are: no JSON, no Python object per number or instance. NumPy puts the
    rows in order (the database would sort hundreds of MB of numbers to do it)."""
    ids_sql, params = id_filter(ids.tolist(), "ids")
    sql = f"SELECT a.id, a.image_id, a.annotator_id, a.version, a.label_numbers {_counted(ids_sql)}"
    connection.ensure_connection()
    # Django's cursors bind parameters client-side, which rules out binary results: a plain psycopg one
    # (its errors still become Django's, as any query's would).
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, binary=True)
        rows = cursor.fetchall()
    meta = np.array([r[:4] for r in rows], dtype=np.int64).reshape(-1, 4)
    order = np.lexsort((meta[:, 0], meta[:, 2], meta[:, 1]))  # image, annotator, id
    meta, blobs = meta[order], [rows[i][4] for i in order.tolist()]
    width = _width(k)
    sizes = np.fromiter((-1 if b is None else len(b) for b in blobs), np.int64, count=len(blobs))
    count = sizes // (8 * width)
    bad = (sizes < 0) | (sizes % (8 * width) != 0)
    if not bad.any():
        inst = np.frombuffer(b"".join(blobs), dtype=">f8").reshape(-1, width)
        owner = np.repeat(np.arange(len(blobs)), count)
        # Each instance starts with its own lengths: the first malformed one is found where it starts.
        bad[owner[(inst[:, 0] != 3 * k) | (inst[:, 3 * k + 1] != 4)]] = True
    if bad.any():
        malformed = ", ".join(map(str, meta[bad, 0][:10].tolist()))
        raise ValueError(f"annotation(s) {malformed} hold instances whose keypoints are not {3 * k} numbers or "
                         "whose box is not 4 numbers")
    if cap is not None:
        keep = np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count) < cap
        inst, owner = inst[keep], owner[keep]
    meta = np.c_[meta, count]
    return (meta, meta[owner, 0], inst[:, 1:1 + 3 * k], inst[:, 2 + 3 * k:6 + 3 * k], inst[:, 6 + 3 * k])


def _read_chunk_text(ids: np.ndarray, k: int, cap: int | None) -> tuple:
    """The same from SQLite (the embedded default, small projects): JSON text parsed by orjson."""
    ids_sql, params = id_filter(ids.tolist(), "ids")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT a.id, a.image_id, a.annotator_id, a.version, a.instances {_counted(ids_sql)} {ORDER}",
                       params)
        rows = cursor.fetchall()
    labels = [orjson.loads(r[4]) for r in rows]
    meta = np.array([(*r[:4], len(instances)) for r, instances in zip(rows, labels)], dtype=np.int64).reshape(-1, 5)
    kept = [(r[0], inst) for r, instances in zip(rows, labels) for inst in instances[:cap]]
    return (meta, np.array([pk for pk, _ in kept], dtype=np.int64),
            np.array([inst["keypoints"] for _, inst in kept], dtype=np.float64).reshape(-1, 3 * k),
            np.array([inst["bbox"] for _, inst in kept], dtype=np.float64).reshape(-1, 4),
            np.array([inst.get("area") for _, inst in kept], dtype=np.float64).reshape(-1))  # None -> NaN


def _read(images: ImageRows, k: int, cap: int | None) -> list[tuple]:
    """Every chunk's labels."""
    pieces = [images.ids[i:i + READ_CHUNK] for i in range(0, len(images), READ_CHUNK)]
    read_chunk = _read_chunk_postgresql if is_postgresql() else _read_chunk_text
    return [read_chunk(piece, k, cap) for piece in pieces]


def _submitted(ids: np.ndarray) -> list[tuple[int, int]]:
    ids_sql, params = id_filter(ids.tolist(), "ids")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT image_id, annotator_id FROM {Assignment._meta.db_table} "
                       f"WHERE image_id {ids_sql} AND state = %(state)s",
                       {**params, "state": Assignment.State.SUBMITTED})
        return cursor.fetchall()


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
    chunks = _read(images, k, cap)
    ann, owner_id, keypoints, boxes, areas = (  # one pass each: big-endian numbers become native here
        np.concatenate([c[i] for c in chunks], dtype=empty.dtype) if chunks else empty
        for i, empty in enumerate((np.zeros((0, 5), np.int64), np.zeros(0, np.int64), np.zeros((0, 3 * k)),
                                   np.zeros((0, 4)), np.zeros(0))))
    # ann: id, image id, annotator, version, instances drawn (rows in image, annotator order)
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
    if not np.array_equal(ann[owner, 0], owner_id):
        raise RuntimeError("scoring read instances out of step with their annotations")
    starts = np.cumsum(kept) - kept
    batch = InstanceBatch.from_arrays(
        keypoints.reshape(-1, k, 3), boxes, ann_image[owner], np.searchsorted(annotators, ann[owner, 2]), area=areas,
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
