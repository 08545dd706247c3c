"""1. Read: the bytes must look like JSON before anything parses them; orjson parses them."""

from __future__ import annotations

import json
from typing import IO

import orjson
from django.conf import settings

from jointly.json_input import JSONInputError, check_bounds

from .errors import CocoImportFailed

SNIFF_BYTES = 4096


def sniff_json(head: bytes) -> None:
    """Refuse, from its first bytes, anything that is not a JSON object."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if not text:
        raise CocoImportFailed({"file": ["The file is empty."]}, {"not_json": 1})
    if text[:1] != b"{":
        preview = text[:16]
        raise CocoImportFailed(
            {"file": [f"Not a JSON file: a COCO file is a JSON object starting with '{{', this one starts with {preview!r}."]},
            {"not_json": 1},
        )


def read_coco(source: bytes | IO[bytes]) -> dict:
    """Parse a COCO file's bytes into a dict, or raise CocoImportFailed naming where it breaks."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
    else:
        head = source.read(SNIFF_BYTES)
        sniff_json(head)
        raw = head + source.read()
    sniff_json(raw[:SNIFF_BYTES])
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = _read_with_stdlib(raw)
    # NUL can only arrive escaped (JSON refuses raw control bytes), so a file without the
    # escape needs no walk; the import reads known fields only, so depth elsewhere is harmless.
    if b"\\u0000" in raw:
        try:
            check_bounds(data, max_depth=settings.JSON_MAX_DEPTH)
        except JSONInputError as exc:
            raise CocoImportFailed({"file": [str(exc)]}, {"invalid_json": 1}) from None
    if not isinstance(data, dict):
        raise CocoImportFailed({"file": ["A COCO file must be a JSON object with images, annotations and categories."]},
                               {"bad_structure": 1})
    return data


def _read_with_stdlib(raw: bytes):
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CocoImportFailed(
            {"file": [f"Not a UTF-8 JSON file: undecodable byte at offset {exc.start}."]}, {"not_json": 1}
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip()) - 1
        hint = " The file ends too early: it looks truncated." if truncated else ""
        raise CocoImportFailed(
            {"file": [f"Invalid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} (byte {exc.pos}).{hint}"]},
            {"truncated_json" if truncated else "invalid_json": 1},
        ) from None
    except RecursionError:
        raise CocoImportFailed({"file": ["Invalid JSON: nested too deeply."]}, {"invalid_json": 1}) from None
