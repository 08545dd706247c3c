"""One error shape for the whole API: ``{"detail": ..., "errors": {...}}``.

Clients get a human sentence in ``detail`` and, for validation errors, the
offending fields under ``errors`` so a form can point at them. This is the
edge where the domain's plain exceptions (`jointly.domain_errors`) and
Django's ValidationError become HTTP; views raise, they never build an error body.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from . import domain_errors

#: The HTTP status of each domain error.
DOMAIN_STATUS = {
    domain_errors.Conflict: status.HTTP_409_CONFLICT,
    domain_errors.Refused: status.HTTP_403_FORBIDDEN,
    domain_errors.Missing: status.HTTP_404_NOT_FOUND,
    domain_errors.TooLarge: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    domain_errors.Invalid: status.HTTP_400_BAD_REQUEST,
}


class ApiError(exceptions.APIException):
    """An error a view raises with its status, sentence, details and any extra top-level keys.

    Domain errors become one of these at the edge; a view raises one directly
    only for what is HTTP's own business (a status the domain has no word for).
    """

    def __init__(self, detail: str, errors: dict | None = None, *, status_code: int = 400, extra: dict | None = None):
        super().__init__(detail)
        self.status_code = status_code
        self.errors = errors or {}
        self.extra = extra or {}

    @classmethod
    def from_domain(cls, error: domain_errors.DomainError) -> "ApiError":
        code = next((c for kind, c in DOMAIN_STATUS.items() if isinstance(error, kind)), status.HTTP_400_BAD_REQUEST)
        return cls(error.detail, error.errors, status_code=code, extra=error.extra)


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
    elif isinstance(exc, domain_errors.DomainError):
        exc = ApiError.from_domain(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        body = {"detail": "Invalid input. " + _flatten_first(errors), "errors": errors}
    elif isinstance(exc, ApiError):
        body = {"detail": str(exc.detail), "errors": exc.errors, **exc.extra}
    elif isinstance(data, dict) and "detail" in data:
        body = {"detail": str(data["detail"]), "errors": {k: v for k, v in data.items() if k != "detail"}}
    else:
        body = {"detail": str(data), "errors": {}}
    response.data = body
    return response

