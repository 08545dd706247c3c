"""Reading ids from query parameters: one rule for every list filter of the API."""

from rest_framework import serializers

#: Ids are PostgreSQL bigints: 19 digits at most.
_MAX_ID_DIGITS = 19


def id_param(params, name: str) -> int | None:
    """The id in query parameter `name`, None when absent, a 400 naming it when not an id.

    ASCII digits only: `str.isdigit` also admits "²", which `int()` refuses, and
    thousands of digits, which `int()` refuses past its limit (each was a 500).
    """
    raw = params.get(name)
    if raw in (None, ""):
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= _MAX_ID_DIGITS):
        raise serializers.ValidationError({name: [f"Expected an id, got {raw[:40]!r}."]})
    return int(raw)
