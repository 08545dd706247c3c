"""What scoring reads: every counted annotator label of a set of images, as flat NumPy arrays.

A project rescore reads hundreds of thousands of annotations (tens of
millions of numbers). Building a model per row, or a Python float per
number, cost more than the agreement engine itself. On PostgreSQL one binary
COPY per chunk of images returns a row per instance in which the database
has already turned the JSON numbers into float8 arrays (`jsonb_to_recordset`);
every field has a fixed size, so NumPy reads a chunk's bytes as one
structured array with no Python object per number. Turning text into floats
costs PostgreSQL about as much as orjson, but it runs on every core: a
project rescore reads with two connections at once. SQLite (the embedded
default, small projects) reads the JSON text and orjson parses it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import orjson
from django.db import connection, transaction

from annotation.models import Annotation, Assignment, SkeletonSpec
from jointly.bulk import is_postgresql
from review.agreement import InstanceBatch

from .scoring_sql import id_filter

Source = Annotation.Source
#: Images per read query: big enough that per-query costs vanish, small enough that a chunk's rows
#: stay tens of MB and the readers share the work evenly.
READ_CHUNK = 10_000
#: Connections reading chunks at once in a project rescore.
READERS = 2


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
    """FROM/WHERE of the annotator labels that count for these images, in image, annotator order."""
    a, s = Annotation._meta.db_table, Assignment._meta.db_table
    # Labels set aside by a reassigning rejection no longer count.
    return (f"FROM {a} AS a WHERE a.image_id {ids_sql} AND a.source = '{Source.ANNOTATOR}' AND NOT EXISTS ("
            f"SELECT 1 FROM {s} AS s WHERE s.annotation_id = a.id AND s.state = '{Assignment.State.REJECTED}')")


ORDER = "ORDER BY a.image_id, a.annotator_id, a.id"


def _binary_dtype(k: int) -> np.dtype:
    """The row layout of the binary COPY below: every field has a fixed size, so a chunk is one NumPy
    structured array (big-endian, as COPY BINARY writes)."""
    def array(n):  # ndim, has-null, element type, size, lower bound, n x (length, value)
        return [("ndim", ">i4"), ("nulls", ">i4"), ("oid", ">u4"), ("dim", ">i4"), ("lb", ">i4"),
                ("items", [("len", ">i4"), ("v", ">f8")], (n,))]
    ints = [field for name in INT_COLUMNS for field in ((f"{name}_len", ">i4"), (name, ">i8"))]
    return np.dtype([("fields", ">i2"), *ints, ("kp_len", ">i4"), ("kp", array(3 * k)), ("box_len", ">i4"),
                     ("box", array(4)), ("area_len", ">i4"), ("area", ">f8")])


INT_COLUMNS = ("id", "image", "annotator", "version", "count", "n")


def _copy_rows(cursor, sql: str, params: dict, dtype: np.dtype) -> np.ndarray:
    """A binary COPY's rows as a structured array (header: 19 bytes, trailer: 2)."""
    with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)", params) as copy:
        data = b"".join(bytes(block) for block in copy)
    body = memoryview(data)[19:-2]
    if len(body) % dtype.itemsize:
        raise ValueError("an annotation holds instances whose keypoints or box are not all numbers of the "
                         "skeleton's length (fixed-size rows expected)")
    return np.frombuffer(body, dtype=dtype)


def _read_chunk_postgresql(ids: np.ndarray, k: int, cap: int | None) -> tuple:
    """One chunk's labels in one binary COPY (one snapshot): a row per kept instance, and one with
    n = 0 for a label with none. PostgreSQL turns the JSON numbers into float8 arrays and NumPy reads
    the bytes as they are: no Python object per number or instance."""
    ids_sql, params = id_filter(ids.tolist(), "ids")
    keep = "true" if cap is None else f"r.n <= {int(cap)}"
    # jsonb_to_recordset fills float8[] columns straight from the JSON arrays (cheaper than text and array_in).
    instances = ("ROWS FROM (jsonb_to_recordset(a.instances) AS (keypoints float8[], bbox float8[], area float8)) "
                 "WITH ORDINALITY AS r(keypoints, bbox, area, n)")
    sql = (
        "SELECT a.id::bigint, a.image_id::bigint, a.annotator_id::bigint, a.version::bigint, "
        "jsonb_array_length(a.instances)::bigint, coalesce(r.n, 0)::bigint, "
        f"coalesce(r.keypoints, array_fill(0::float8, ARRAY[{3 * k}])), "
        "coalesce(r.bbox, array_fill(0::float8, ARRAY[4])), coalesce(r.area, 'NaN') "
        + _counted(ids_sql).replace(" WHERE", f" LEFT JOIN LATERAL {instances} ON {keep} WHERE", 1)
        + f" {ORDER}, r.n"
    )
    with transaction.atomic(), connection.cursor() as wrapper:
        wrapper.execute("SET LOCAL work_mem = '256MB'")  # the chunk's sort stays in memory
        rows = _copy_rows(wrapper.cursor, sql, params, _binary_dtype(k))
    well_formed = all(
        (rows[f"{name}_len"] == 8).all() for name in (*INT_COLUMNS, "area")
    ) and ((rows["fields"] == 9) & (rows["kp"]["dim"] == 3 * k) & (rows["kp"]["nulls"] == 0)
           & (rows["box"]["dim"] == 4) & (rows["box"]["nulls"] == 0)).all()
    if not well_formed:
        raise ValueError(f"an annotation of images {ids[0]}..{ids[-1]} holds instances whose keypoints are not "
                         f"{3 * k} numbers or whose box is not 4 numbers")
    first = rows["n"] <= 1  # each label's first row
    meta = np.stack([rows[c][first] for c in ("id", "image", "annotator", "version", "count")], axis=1)
    inst = rows[rows["n"] > 0]
    return (meta.astype(np.int64), inst["id"].astype(np.int64), inst["kp"]["items"]["v"].astype(np.float64),
            inst["box"]["items"]["v"].astype(np.float64), inst["area"].astype(np.float64))


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


def _in_own_connection(ids: np.ndarray, k: int, cap: int | None) -> tuple:
    try:
        return _read_chunk_postgresql(ids, k, cap)
    finally:
        connection.close()  # this helper thread's connection


def _read(images: ImageRows, k: int, cap: int | None) -> list[tuple]:
    """Every chunk's labels. Outside a transaction on PostgreSQL, READERS connections read chunks at
    once (the database renders numbers on every core); inside one (a few images scored under their
    row locks, or a test's transaction) everything stays on this connection, which sees what it wrote."""
    pieces = [images.ids[i:i + READ_CHUNK] for i in range(0, len(images), READ_CHUNK)]
    if not is_postgresql():
        return [_read_chunk_text(piece, k, cap) for piece in pieces]
    if connection.in_atomic_block or len(pieces) < 2:
        return [_read_chunk_postgresql(piece, k, cap) for piece in pieces]
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        return list(pool.map(lambda piece: _in_own_connection(piece, k, cap), pieces))


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
    ann, owner_id, keypoints, boxes, areas = (
        np.concatenate([c[i] for c in chunks]) if chunks else empty
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
