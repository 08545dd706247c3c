"""Rows of constant SQL statements as model instances, for the engine's hot path.

tasks/next and submit run in a loop for every annotator, so their statements
are written out once (no ORM compilation per request, and the database can
keep them prepared per connection; see README). Django's `Model.objects.raw`
would map the rows, but it re-derives the column order and the value
converters on every call, which costs more than the query itself. `fetch_one`
derives them once per model and database vendor and reuses them.

Statements select the model's columns with `columns(model, alias)` first,
then any extra columns, which end up as attributes of the instance.
"""

from __future__ import annotations

from functools import lru_cache

from django.db import connection


def columns(model, alias: str) -> str:
    """The model's concrete columns, in field order, qualified by a table alias."""
    return ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in model._meta.concrete_fields)


@lru_cache(maxsize=64)
def _converters(model, vendor: str) -> tuple:
    """Per concrete field: (index, column expression, converters) where the ORM would convert."""
    result = []
    for i, field in enumerate(model._meta.concrete_fields):
        expression = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        if converters:
            result.append((i, expression, tuple(converters)))
    return tuple(result)


def fetch_one(model, sql, params, extra: tuple[str, ...] = (), joined: tuple[tuple[str, type], ...] = ()):
    """Run a statement whose row is the model's columns, then `extra` ones, then the
    columns of each `joined` (attribute name, model) in turn; an instance or None.

    Extra columns and joined instances end up as attributes of the instance.
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    instance = _instance(model, row[:len(model._meta.concrete_fields)])
    start = len(model._meta.concrete_fields)
    for name, value in zip(extra, row[start:start + len(extra)]):
        setattr(instance, name, value)
    start += len(extra)
    for name, other in joined:
        end = start + len(other._meta.concrete_fields)
        setattr(instance, name, _instance(other, row[start:end]))
        start = end
    return instance


def _instance(model, row):
    values = list(row)
    for i, expression, converters in _converters(model, connection.vendor):
        for convert in converters:
            values[i] = convert(values[i], expression, connection)
    return model.from_db(connection.alias, None, values)
