"""OpenAPI post-processing: every operation documents the errors the API can answer.

The error shape is the same everywhere (jointly/api_errors.py), and so are the
reasons for most errors: bad input, no or bad credentials, no permission, not
found (or not visible), a method the path does not take, a body too large or
of the wrong type, too many requests, a server fault. Rather than repeating
them on every view, this hook adds each one an operation does not document
itself, pointing at one `Error` component.
"""

from __future__ import annotations

ERROR_COMPONENT = {
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": True},
    },
    "required": ["detail", "errors"],
}

COMMON_ERRORS = {
    "400": "Invalid input: `errors` names each field and its problem.",
    "401": "No credentials, or bad ones (see the WWW-Authenticate header).",
    "403": "Signed in, but not allowed to do this here.",
    "404": "No such resource, or it is outside the caller's reach.",
    "405": "The path does not take this method.",
    "413": "The body is larger than the limit the detail names.",
    "415": "The body is not of a type this endpoint reads (JSON, or multipart for uploads).",
    "429": "Too many requests or failed sign-ins; see the Retry-After header.",
    "500": "The server failed; the request was logged.",
}
#: Only a change can conflict with the state it meets (a taken name, a stale version, a lease gone).
WRITE_ERRORS = {"409": "Conflict: the resource changed, or is in a state that refuses this change."}


def add_error_responses(result, generator, request, public):
    """drf-spectacular POSTPROCESSING_HOOKS entry."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Error", ERROR_COMPONENT)
    reference = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in ("get", "put", "patch", "post", "delete", "head", "options"):
                continue
            responses = operation.setdefault("responses", {})
            errors = COMMON_ERRORS if method in ("get", "head", "options") else {**COMMON_ERRORS, **WRITE_ERRORS}
            for code, description in errors.items():
                if code not in responses:
                    responses[code] = {"description": description,
                                       "content": {"application/json": {"schema": reference}}}
            # Answered by the HTTP server in front of Django (gunicorn: a request line over 4094 bytes).
            responses.setdefault("414", {"description": "The URL is too long for the HTTP server."})
    return result
