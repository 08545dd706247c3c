"""One error shape for the whole API: ``{"detail": ..., "errors": {...}}``.

Clients get a human sentence in ``detail`` and, for validation errors, the
offending fields under ``errors`` so a form can point at them. This is the
edge where the domain's plain exceptions (`jointly.domain_errors`) and
Django's ValidationError become HTTP; views raise, they never build an error body.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, serializers, status
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


class ErrorSerializer(serializers.Serializer):
    """The error shape, for the OpenAPI document."""

    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.JSONField())




# --- errors Django answers before or around DRF -------------------------------------
#
# Unknown URLs, bodies over Django's limits, malformed requests and crashes never
# reach DRF's exception handler. Under /api/ they get the same JSON shape as
# everything else; the pages keep Django's own responses.

def _is_api(request) -> bool:
    return request.path_info.startswith("/api/")


def _json_error(detail: str, status_code: int, errors: dict | None = None) -> JsonResponse:
    return JsonResponse({"detail": detail, "errors": errors or {}}, status=status_code)


def bad_request(request, exception=None, *args, **kwargs):
    if isinstance(exception, RequestDataTooBig):
        detail = (f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
                  "(DATA_UPLOAD_MAX_MEMORY_SIZE).")
        return _json_error(detail, 413) if _is_api(request) else HttpResponse(detail, status=413)
    if isinstance(exception, TooManyFilesSent):
        detail = (f"At most {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files per request "
                  "(DATA_UPLOAD_MAX_NUMBER_FILES); send them in batches.")
        return _json_error(detail, 413, {"files": [detail]}) if _is_api(request) else HttpResponse(detail, status=413)
    if _is_api(request):
        return _json_error("Bad request.", 400)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None, *args, **kwargs):
    if _is_api(request):
        return _json_error("You do not have permission to perform this action.", 403)
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception=None, *args, **kwargs):
    if _is_api(request):
        return _json_error(f"No API endpoint at {request.path_info}; see /api/docs/.", 404)
    return defaults.page_not_found(request, exception)


def server_error(request, *args, **kwargs):
    if _is_api(request):
        return _json_error("The server failed on this request; it has been logged.", 500)
    return defaults.server_error(request)
