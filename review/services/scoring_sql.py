"""The few SQL spellings that differ between PostgreSQL and SQLite (the embedded default), for scoring's
set-based reads and writes: a list of ids as one parameter, null-safe and JSON comparisons, a
temporary table filled in one statement, and the compression of what a batch stores."""

from __future__ import annotations

from typing import Sequence

import orjson
from jointly.bulk import is_postgresql


def id_filter(ids: list[int], name: str) -> tuple[str, dict]:
    """`column <this>` matches any of `ids`, bound as one parameter (no statement with thousands of
    placeholders to build and parse)."""
    if is_postgresql():  # as an array literal: psycopg would adapt a list of ints one by one in Python
        return f"= ANY(%({name})s::bigint[])", {name: "{" + ",".join(map(str, ids)) + "}"}
    return f"IN (SELECT value FROM json_each(%({name})s))", {name: orjson.dumps(ids).decode()}


def compress_fast(cursor) -> None:
    """For the rest of the transaction, large values are compressed with lz4 where the server has it.

    A batch's JSON rows (the temporary table's and the results') are big enough to be compressed
    when stored, and PostgreSQL's default, pglz, spent more time doing it than lz4 does (for a
    similar size). A server built without lz4 keeps pglz; SQLite has no such setting.
    """
    if is_postgresql():
        cursor.execute("SELECT set_config('default_toast_compression', 'lz4', true) FROM pg_settings "
                       "WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")


def differs(a: str, b: str, *, json: bool = False) -> str:
    """SQL true when a and b differ, NULLs compared as values; JSON compared as JSON."""
    if is_postgresql():
        return f"{a} IS DISTINCT FROM {b}"
    if json:  # SQLite keeps JSON as text: compare the minified forms
        return f"json({a}) IS NOT json({b})"
    return f"{a} IS NOT {b}"


def fill_temp_table(cursor, name: str, columns: Sequence[tuple[str, str]], rows: list[dict],
                    primary_key: str | None = None) -> None:
    """A temporary table of (column, PostgreSQL type) holding `rows` (dicts by column); the caller drops it.

    PostgreSQL gets them by COPY, each JSON value serialized by orjson and parsed once by the
    database (a whole batch as one JSON document split by `jsonb_to_recordset` costs the database
    twice that); SQLite takes them with one executemany (JSON columns as text).
    """
    json = [t == "jsonb" for _, t in columns]
    values = ([orjson.dumps(row[c]).decode() if j and row[c] is not None else row[c]
               for (c, _), j in zip(columns, json)] for row in rows)
    if is_postgresql():
        definition = ", ".join(f"{c} {t}{' PRIMARY KEY' if c == primary_key else ''}" for c, t in columns)
        cursor.execute(f"CREATE TEMP TABLE {name} ({definition}) ON COMMIT DROP")
        with cursor.cursor.copy(f"COPY {name} FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
        if primary_key:
            # Autovacuum never sees temporary tables: give the planner real counts (the key only:
            # statistics of the big JSON columns cost more than the statements they would help).
            cursor.execute(f"ANALYZE {name} ({primary_key})")
        return
    lite = {"jsonb": "text", "bigint": "integer", "double precision": "real"}
    definition = ", ".join(f"{c} {lite.get(t, t)}{' PRIMARY KEY' if c == primary_key else ''}" for c, t in columns)
    cursor.execute(f"DROP TABLE IF EXISTS temp.{name}")
    cursor.execute(f"CREATE TEMP TABLE {name} ({definition})")
    cursor.executemany(f"INSERT INTO {name} VALUES ({', '.join(['%s'] * len(columns))})", list(values))
