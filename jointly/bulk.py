"""Set-based writes of many rows: COPY on PostgreSQL, bulk_create elsewhere.

`bulk_create` prepares every value field by field and, on PostgreSQL, sends
JSON through array literals that psycopg escapes character by character; for
tens of thousands of JSON rows that is most of a job's time. COPY streams
rows in PostgreSQL's own text format instead, with JSON serialized once by
orjson. The SQLite fallback (the embedded default) keeps the same results.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from django.db import connection


#: Below this many rows a temporary table's DDL costs more than it saves.
COPY_THRESHOLD = 500


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def use_copy(n_rows: int) -> bool:
    """COPY pays off for big batches on PostgreSQL; a job scoring one image takes the ORM path."""
    return n_rows >= COPY_THRESHOLD and is_postgresql()


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
