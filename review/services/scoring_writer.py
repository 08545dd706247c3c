"""What scoring writes for a batch of images, set-based: one temporary table, a handful of statements.

Per batch (one transaction, under the images' row locks):

1. the images' statuses are read under lock (image first: the engine's and the
   decisions' lock order); only images still in `scoring` move, so a QA
   decision or a concurrent job that got there first is never undone;
2. every scored row goes into a temporary table in one COPY (each JSON value
   serialized once here and parsed once there);
3. a score round is appended for each image whose outcome differs from its
   current ConsensusResult (so re-running a batch appends nothing);
4. the ConsensusResults are upserted (unchanged rows are left alone), the
   consensus annotations replaced (`replace_source_annotations`), statuses
   moved through the image state machine, and review tasks opened or
   refreshed, each with one statement reading the temporary table.

A batch is all or nothing; a re-run computes the same rows and leaves the
tables as a clean run does.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models.expressions import RawSQL

from annotation.models import Annotation, Image, Project
from annotation.services import image_status
from annotation.services.annotations import replace_source_annotations
from jointly.bulk import is_postgresql

from ..models import ConsensusResult, ReviewDecision, ReviewTask, ScoreRound
from .scoring_sql import compress_fast, differs, fill_temp_table, id_filter

Decision = ConsensusResult.Decision
TEMP = "jointly_scored"
#: The temporary table: one row per image of the batch (types as PostgreSQL spells them).
COLUMNS = (
    ("image_id", "bigint"), ("move", "text"), ("kind", "text"), ("decision", "text"),
    ("agreement", "double precision"), ("keypoint_agreement", "jsonb"), ("visibility_agreement", "double precision"),
    ("n_annotators", "integer"), ("n_objects", "integer"), ("clusters", "jsonb"), ("annotator_scores", "jsonb"),
    ("flags", "jsonb"), ("reasons", "jsonb"), ("inputs", "jsonb"), ("flag_counts", "jsonb"),
    ("extra_replicas", "integer"),
)
#: ConsensusResult columns rewritten from the table (besides image and project).
RESULT_COLUMNS = ("agreement", "keypoint_agreement", "visibility_agreement", "n_annotators", "n_objects", "clusters",
                  "annotator_scores", "flags", "decision", "reasons", "inputs")
JSON_COLUMNS = frozenset(c for c, t in COLUMNS if t == "jsonb")
#: What makes a score round new: a different outcome, or the same outcome from other labels.
ROUND_COLUMNS = ("decision", "agreement", "reasons", "inputs")
#: Image state machine transition each move names.
MOVES = {Decision.AUTO_ACCEPTED: "auto_accept", Decision.NEEDS_REVIEW: "send_to_review",
         Decision.MORE_REPLICAS: "request_replica"}


def _differ(a: str, b: str, column: str) -> str:
    return differs(a, b, json=column in JSON_COLUMNS)


def _sql(project: Project) -> list[tuple[str, dict]]:
    """The batch's statements after the table is filled, in order (image-status moves come apart)."""
    t, img = TEMP, Image._meta.db_table
    results, rounds = ConsensusResult._meta.db_table, ScoreRound._meta.db_table
    tasks, decisions = ReviewTask._meta.db_table, ReviewDecision._meta.db_table
    p = {"project": project.pk}
    changed_round = " OR ".join(_differ(f"c.{c}", f"s.{c}", c) for c in ROUND_COLUMNS)
    result_cols = ", ".join(RESULT_COLUMNS)
    changed_result = " OR ".join(_differ(f"{results}.{c}", f"EXCLUDED.{c}", c) for c in RESULT_COLUMNS)
    return [
        (f"INSERT INTO {rounds} (image_id, project_id, agreement, decision, reasons, inputs, n_annotators, n_objects, "
         f"flag_counts, created_at) SELECT s.image_id, %(project)s, s.agreement, s.decision, s.reasons, s.inputs, "
         f"s.n_annotators, s.n_objects, s.flag_counts, %(now)s FROM {t} AS s "
         f"LEFT JOIN {results} AS c ON c.image_id = s.image_id WHERE c.id IS NULL OR {changed_round} "
         "ORDER BY s.image_id", p),
        (f"INSERT INTO {results} (image_id, project_id, {result_cols}, computed_at) "
         f"SELECT image_id, %(project)s, {result_cols}, %(now)s FROM {t} WHERE true "
         f"ON CONFLICT (image_id) DO UPDATE SET "
         + ", ".join(f"{c} = EXCLUDED.{c}" for c in (*RESULT_COLUMNS, "computed_at"))
         + f", project_id = EXCLUDED.project_id WHERE {changed_result}", p),
        (f"UPDATE {img} SET extra_replicas = s.extra_replicas FROM {t} AS s "
         f"WHERE {img}.id = s.image_id AND s.move = 'request_replica'", {}),
        # A rescore that changes an open task's reasons or agreement bumps its version, so a QA lead
        # deciding on what they read gets a 409 instead of deciding on stale numbers.
        (f"UPDATE {tasks} SET reasons = s.reasons, agreement = s.agreement, version = {tasks}.version + 1 "
         f"FROM {t} AS s WHERE {tasks}.image_id = s.image_id AND {tasks}.state = 'open' AND "
         f"({_differ(f'{tasks}.reasons', 's.reasons', 'reasons')} OR {differs(f'{tasks}.agreement', 's.agreement')})",
         {}),
    ]


def _new_tasks_sql(project: Project) -> tuple[str, dict]:
    """A task for each image newly sent to review; after rework (a rejection before) it is a `rework` task
    whose round counts the rejections so far. Every column without a database default is listed: a new
    NOT NULL field on ReviewTask must be added here (the scoring tests fail until it is)."""
    t, tasks, decisions = TEMP, ReviewTask._meta.db_table, ReviewDecision._meta.db_table
    return (
        f"INSERT INTO {tasks} (image_id, project_id, state, kind, round, agreement, reasons, version, ahead, "
        f"created_at) SELECT s.image_id, %(project)s, 'open', CASE WHEN r.n > 0 THEN 'rework' ELSE s.kind END, "
        f"coalesce(r.n, 0), s.agreement, s.reasons, 1, false, %(now)s FROM {t} AS s LEFT JOIN ("
        f"SELECT d.image_id, count(*) AS n FROM {decisions} AS d JOIN {t} AS x ON x.image_id = d.image_id "
        f"WHERE d.action = 'reject' GROUP BY d.image_id) AS r ON r.image_id = s.image_id "
        "WHERE s.move = 'send_to_review' ORDER BY s.image_id ON CONFLICT DO NOTHING",
        {"project": project.pk},
    )


def _used(params: dict, sql: str) -> dict | None:
    return {k: v for k, v in params.items() if f"%({k})s" in sql} or None


def _locked_statuses(ids: list[int]) -> dict[int, str]:
    ids_sql, params = id_filter(ids, "ids")
    lock = " ORDER BY id FOR UPDATE" if is_postgresql() else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, status FROM {Image._meta.db_table} WHERE id {ids_sql}{lock}", params)
        return dict(cursor.fetchall())


def write_batch(project: Project, scored: list[dict], consensus: dict[int, list], now: datetime) -> None:
    """Write one batch; the caller holds the transaction.

    `scored`: per image, a dict of the COLUMNS other than `move` and `extra_replicas` (JSON columns
    as Python values); `consensus`: image id -> the consensus instances.
    """
    status = _locked_statuses([s["image_id"] for s in scored])
    for s in scored:
        move = None
        if status.get(s["image_id"]) == Image.Status.SCORING:
            move = MOVES[s["decision"]]
        elif s["decision"] == Decision.MORE_REPLICAS:
            s["decision"] = Decision.NEEDS_REVIEW  # a rescore never reopens annotation of a reviewed image
        s["move"], s["extra_replicas"] = move, s["n_annotators"] + 1 - project.replicas
    with connection.cursor() as cursor:
        compress_fast(cursor)
        fill_temp_table(cursor, TEMP, COLUMNS, scored, primary_key="image_id")
        for sql, params in _sql(project):
            cursor.execute(sql, _used({**params, "now": now}, sql))
        replace_source_annotations(Annotation.Source.CONSENSUS, consensus)
        for move in MOVES.values():
            image_status.apply(image_status.BY_NAME[move], Image.objects.filter(
                pk__in=RawSQL(f"SELECT image_id FROM {TEMP} WHERE move = %s", [move])))
        sql, params = _new_tasks_sql(project)
        cursor.execute(sql, _used({**params, "now": now}, sql))
        cursor.execute(f"DROP TABLE {TEMP}")
