"""One error shape for the whole API: ``{"detail": ..., "errors": {...}}``.

Clients get a human sentence in ``detail`` and, for validation errors, the
offending fields under ``errors`` so a form can point at them.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def _flatten_first(errors) -> str:
    """Return the first message found in a nested DRF error structure, with its path."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            inner = _flatten_first(value)
            if key in ("non_field_errors", "__all__"):
                return inner
            return f"{key}: {inner}"
    if isinstance(errors, list) and errors:
        return _flatten_first(errors[0])
    return str(errors)


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        body = {"detail": "Invalid input. " + _flatten_first(errors), "errors": errors}
    elif isinstance(data, dict) and "detail" in data:
        body = {"detail": str(data["detail"]), "errors": {k: v for k, v in data.items() if k != "detail"}}
    else:
        body = {"detail": str(data), "errors": {}}
    response.data = body
    return response


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The resource changed or is no longer available."
    default_code = "conflict"


def error_response(detail: str, errors: dict | None = None, status_code: int = 400) -> Response:
    return Response({"detail": detail, "errors": errors or {}}, status=status_code)
