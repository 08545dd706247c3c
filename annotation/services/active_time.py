"""Active time, honestly: what an assignment bills.

The client measures active milliseconds (time with input, paused when idle)
and reports a running total on every draft save, heartbeat, release and
submit. The server does not take it on trust. It credits

    active_ms = min(client_active_ms, observed_ms, wall_ms)

where
- ``client_active_ms`` is the largest total the client reported (a total
  never goes backwards: a stale retry cannot lower it),
- ``wall_ms`` is the time since the lease started: nobody works longer than
  they held the image,
- ``observed_ms`` sums the gaps between the events the server itself saw for
  this lease (lease, each draft save or heartbeat, the final submit), each
  gap capped at the project's ``idle_limit_seconds``.

So a tab left open for an hour bills at most one idle limit past the last
event the server saw, and a client that wants long tasks billed in full
sends a heartbeat (or a draft save) at least once per idle limit while the
person is working. Pure functions on the assignment's fields: callers save.
"""

from __future__ import annotations

from datetime import datetime


def _ms(delta) -> int:
    return max(0, int(delta.total_seconds() * 1000))


def record_activity(assignment, now: datetime, idle_limit_seconds: int) -> None:
    """Add the gap since the last server-seen event, capped by the idle limit, to observed_ms."""
    last = assignment.last_activity_at or assignment.leased_at
    if now > last:
        assignment.observed_ms += min(_ms(now - last), idle_limit_seconds * 1000)
        assignment.last_activity_at = now


def credit_active_time(assignment, client_active_ms: int | None, now: datetime, idle_limit_seconds: int) -> None:
    """Record an event with the client's running total and recompute the credited active time."""
    record_activity(assignment, now, idle_limit_seconds)
    if client_active_ms is not None:
        assignment.client_active_ms = max(assignment.client_active_ms, int(client_active_ms))
    wall_ms = _ms(now - assignment.leased_at)
    assignment.active_ms = min(assignment.client_active_ms, assignment.observed_ms, wall_ms)


ACTIVE_TIME_FIELDS = ["active_ms", "client_active_ms", "observed_ms", "last_activity_at"]
