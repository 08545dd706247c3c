"""The domain's errors: plain exceptions that services, the engine and jobs raise.

They know nothing of HTTP. The API edge (`jointly.api_errors.exception_handler`)
turns each into the one error shape ``{"detail": ..., "errors": {...}}`` with
its status: Conflict 409, Refused 403, Missing 404, TooLarge 413, Invalid 400.
Invalid input of a single form or payload is usually Django's own
`django.core.exceptions.ValidationError` (models and forms raise it too),
which the same handler turns into a 400 naming the fields; `Invalid` is for
a whole document whose problems the service already listed (a COCO file).
"""

from __future__ import annotations


class DomainError(Exception):
    """A sentence for the person (`detail`) and, optionally, details by field or topic (`errors`)."""

    default_detail = "The request cannot be carried out."

    def __init__(self, detail: str | None = None, errors: dict | None = None, *, extra: dict | None = None):
        self.detail = detail or self.default_detail
        self.errors = errors or {}
        #: More top-level keys of the answer beside detail and errors (counts, a job).
        self.extra = extra or {}
        super().__init__(self.detail)


class Conflict(DomainError):
    """The request is well-formed but the current state forbids it (the resource changed, a rule says no)."""

    default_detail = "The resource changed or is no longer available."


class Refused(DomainError):
    """The caller may not do this."""

    default_detail = "You may not do this."


class Missing(DomainError):
    """The thing asked for does not exist (or is not visible to the caller)."""

    default_detail = "Not found."


class TooLarge(DomainError):
    """The input is over its bound."""

    default_detail = "The input is too large."


class Invalid(DomainError):
    """The input as a whole is wrong; `errors` lists the problems by field."""

    default_detail = "Invalid input."
