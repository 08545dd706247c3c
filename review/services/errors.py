"""Domain errors of the review services (the API edge turns them into the one error shape).

A lost race is a ReviewConflict (409) that carries the task's current
version in the body, so the caller can reload and decide again.
"""

from __future__ import annotations

from jointly.domain_errors import Conflict


class ReviewConflict(Conflict):
    """The task changed, is decided, or is held by someone else."""

    def __init__(self, message: str, *, version: int | None = None):
        super().__init__(message, {"version": [f"The current version is {version}."]}, extra={"version": version})
        self.version = version
