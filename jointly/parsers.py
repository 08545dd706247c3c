"""The API's JSON parser: `jointly.json_input`'s bounds as DRF errors (413, 400)."""

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser

from .json_input import JSONInputError, loads


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class BoundedJSONParser(BaseParser):
    """DRF's JSON parser with the bounds of `jointly.json_input` (and a 413 past the size limit)."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.JSON_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(
                f"The JSON body is larger than {limit} bytes (JSON_MAX_BODY_BYTES); send less per request."
            )
        if not raw.strip():
            raise ParseError("Empty body: send a JSON document.")
        try:
            return loads(raw)
        except JSONInputError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
