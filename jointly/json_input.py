"""The bounds every JSON document from outside meets: size, depth and content.

Every JSON body of the API goes through `jointly.parsers.BoundedJSONParser`
(REST_FRAMEWORK's only default parser; the upload endpoints add multipart
themselves), the fast lane uses the same class, and the COCO import checks
its file with `check_bounds`, so no entry point accepts what another refuses:

- size: at most `JSON_MAX_BODY_BYTES`, refused with 413 before it is parsed;
- depth: at most `JSON_MAX_DEPTH` nested arrays/objects (Python's own json
  recursion, PostgreSQL's jsonb and orjson's encoder all break far below the
  depths a client can send);
- numbers: finite only. orjson already refuses NaN, Infinity and numbers that
  overflow a double (`1e400`, `10**400`);
- strings: no NUL (PostgreSQL text and jsonb cannot store it) and no lone
  surrogates (orjson refuses them; they are not Unicode).

Whether a boolean may stand where a number is meant is each field's business:
DRF's numeric fields and the instance validator refuse `true` as a number.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings


class JSONInputError(ValueError):
    """A JSON document that is well-formed but outside the bounds above, or not JSON at all."""


def check_bounds(value: Any, *, max_depth: int) -> None:
    """Raise JSONInputError when `value` nests deeper than `max_depth` or holds a NUL."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > max_depth:
                raise JSONInputError(f"JSON nested deeper than {max_depth} levels (depth limit).")
            for key, item in node.items():
                if "\x00" in key:
                    raise JSONInputError("JSON strings must not contain NUL (\\u0000).")
                if isinstance(item, (dict, list, str)):
                    stack.append((item, depth + 1))
        elif isinstance(node, list):
            if depth > max_depth:
                raise JSONInputError(f"JSON nested deeper than {max_depth} levels (depth limit).")
            stack.extend((item, depth + 1) for item in node if isinstance(item, (dict, list, str)))
        elif isinstance(node, str) and "\x00" in node:
            raise JSONInputError("JSON strings must not contain NUL (\\u0000).")


def loads(raw: bytes | str, *, max_depth: int | None = None) -> Any:
    """Parse and bound-check one JSON document; JSONInputError says what is wrong."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise JSONInputError(f"Invalid JSON: {exc}") from None
    check_bounds(value, max_depth=max_depth or settings.JSON_MAX_DEPTH)
    return value
