"""The few SQL spellings that differ between PostgreSQL and SQLite (the embedded default), for scoring's
set-based reads and writes: a list of ids as one parameter, null-safe and JSON comparisons, and a
temporary table filled in one statement."""

from __future__ import annotations

from typing import Sequence

import orjson
from jointly.bulk import is_postgresql



def id_filter(ids: list[int], name: str) -> tuple[str, dict]:
    """`column <this>` matches any of `ids`, bound as one parameter (no statement with thousands of
    placeholders to build and parse)."""
    if is_postgresql():
        return f"= ANY(%({name})s::bigint[])", {name: ids}
    return f"IN (SELECT value FROM json_each(%({name})s))", {name: orjson.dumps(ids).decode()}


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

    PostgreSQL gets the rows as one JSON document, serialized by one orjson call and split into
    typed columns by `jsonb_to_recordset` (no per-row, per-field work in Python); SQLite takes
    them with one executemany (JSON columns as text).
    """
    if is_postgresql():
        definition = ", ".join(f"{c} {t}" for c, t in columns)
        cursor.execute(f"CREATE TEMP TABLE {name} ON COMMIT DROP AS SELECT * FROM jsonb_to_recordset(%s::jsonb) "
                       f"AS r({definition})", [orjson.dumps(rows).decode()])
        if primary_key:
            cursor.execute(f"ALTER TABLE {name} ADD PRIMARY KEY ({primary_key})")
            # Autovacuum never sees temporary tables: give the planner real counts (the key only:
            # statistics of the big JSON columns cost more than the statements they would help).
            cursor.execute(f"ANALYZE {name} ({primary_key})")
        return
    lite = {"jsonb": "text", "bigint": "integer", "double precision": "real"}
    definition = ", ".join(f"{c} {lite.get(t, t)}{' PRIMARY KEY' if c == primary_key else ''}" for c, t in columns)
    cursor.execute(f"DROP TABLE IF EXISTS temp.{name}")
    cursor.execute(f"CREATE TEMP TABLE {name} ({definition})")
    json = [t == "jsonb" for _, t in columns]
    cursor.executemany(
        f"INSERT INTO {name} VALUES ({', '.join(['%s'] * len(columns))})",
        [[orjson.dumps(row[c]).decode() if j else row[c] for (c, _), j in zip(columns, json)] for row in rows],
    )
