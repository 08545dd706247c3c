"""Set-based writes of many rows: COPY on PostgreSQL, bulk_create elsewhere.

`bulk_create` prepares every value field by field and, on PostgreSQL, sends
JSON through array literals that psycopg escapes character by character; for
tens of thousands of JSON rows that is most of a job's time. COPY streams
rows in PostgreSQL's own text format instead, with JSON serialized once by
orjson. The SQLite fallback (the embedded default) keeps the same results.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import orjson
from django.db import connection, models


#: Below this many rows a temporary table's DDL costs more than it saves.
COPY_THRESHOLD = 500


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def use_copy(n_rows: int) -> bool:
    """COPY pays off for big batches on PostgreSQL; a job scoring one image takes the ORM path."""
    return n_rows >= COPY_THRESHOLD and is_postgresql()


def _copy_value(field: models.Field, value):
    # psycopg adapts plain Python values (ints, floats, str, bool, aware
    # datetimes) itself; only JSON needs serializing.
    if value is not None and isinstance(field, models.JSONField):
        return orjson.dumps(value).decode()
    return value


def column_type(field: models.Field) -> str:
    return field.rel_db_type(connection) if field.is_relation else field.db_type(connection)


def copy_into_temp_table(cursor, name: str, columns: Sequence[tuple[str, str]], rows: Iterable[Sequence]) -> None:
    """Create a temporary table of (column, SQL type) pairs and COPY rows into it.

    The caller drops it when done (it would otherwise live until commit).
    """
    definition = ", ".join(f"{connection.ops.quote_name(c)} {t}" for c, t in columns)
    cursor.execute(f"CREATE TEMP TABLE {name} ({definition}) ON COMMIT DROP")
    quoted = ", ".join(connection.ops.quote_name(c) for c, _ in columns)
    with cursor.cursor.copy(f"COPY {name} ({quoted}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def upsert(model: type[models.Model], objs: Sequence[models.Model], *, unique_fields: Sequence[str],
           update_fields: Sequence[str]) -> None:
    """Insert `objs`, or update `update_fields` where a row with the same `unique_fields` exists.

    Must run inside a transaction (the temporary table lives until commit).
    """
    if not objs:
        return
    if not use_copy(len(objs)):
        model.objects.bulk_create(objs, batch_size=2000, update_conflicts=True, unique_fields=unique_fields,
                                  update_fields=update_fields)
        return
    fields = [f for f in model._meta.local_concrete_fields if not f.primary_key]
    for obj in objs:  # auto_now / auto_now_add, as save() and bulk_create would set them
        for f in fields:
            if getattr(f, "auto_now", False) or (getattr(f, "auto_now_add", False) and getattr(obj, f.attname) is None):
                f.pre_save(obj, add=True)
    columns = [f.column for f in fields]
    table = model._meta.db_table
    conflict = ", ".join(connection.ops.quote_name(model._meta.get_field(f).column) for f in unique_fields)
    updates = ", ".join(
        f"{connection.ops.quote_name(c)} = EXCLUDED.{connection.ops.quote_name(c)}"
        for c in (model._meta.get_field(f).column for f in update_fields)
    )
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        copy_into_temp_table(
            cursor, "jointly_upsert", [(f.column, column_type(f)) for f in fields],
            ([_copy_value(f, getattr(obj, f.attname)) for f in fields] for obj in objs),
        )
        cursor.execute(
            f"INSERT INTO {table} ({quoted}) SELECT {quoted} FROM jointly_upsert "
            f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
        )
        cursor.execute("DROP TABLE jointly_upsert")
