"""Domain errors of the review services; the API edge turns them into the one error shape.

Services never import DRF: bad input is Django's ValidationError (already
translated by jointly.api_errors), and a lost race is a ReviewConflict that
carries the task's current version, so the caller can reload and retry.
"""

from __future__ import annotations


class ReviewConflict(Exception):
    """The task changed, is decided, or is held by someone else (HTTP 409)."""

    def __init__(self, message: str, *, version: int | None = None):
        super().__init__(message)
        self.version = version
