"""Reading ids from query parameters: the one rule for every id filter of the API."""

from __future__ import annotations

from rest_framework import serializers

#: Ids are PostgreSQL bigints: 19 digits at most.
_MAX_ID_DIGITS = 19


def parse_id(raw: str) -> int | None:
    """The id `raw` spells, or None. ASCII digits only: `str.isdigit` also admits "²",
    which `int()` refuses, and thousands of digits, which `int()` refuses past its
    limit (each of them was a 500)."""
    if raw.isascii() and raw.isdigit() and len(raw) <= _MAX_ID_DIGITS:
        return int(raw)
    return None


def id_param(params, name: str) -> int | None:
    """The id in query parameter `name`, None when absent, a 400 naming it when not an id."""
    raw = params.get(name)
    if raw in (None, ""):
        return None
    value = parse_id(raw)
    if value is None:
        raise serializers.ValidationError({name: [f"Expected an id, got {raw[:40]!r}."]})
    return value
