"""The engine's two hottest requests, answered ahead of the rest of the stack.

annotation/urls.py (FAST_LANE) names the two URLs answered here and says why;
tests/test_middleware_order.py fails whenever MIDDLEWARE changes, because any
middleware listed after this one never runs for these requests.

Every annotator calls tasks/next and submit in a loop, all day, so on a
busy project these two are nearly all of the API's traffic (bench/bench_tasks.py
measures that loop). A request to either with an API token is answered here,
by a middleware that sits right after the security headers: no session,
CSRF or message middleware, no URL resolution, no DRF request, content
negotiation or serializer. The caller is identified by the request's first
statement, which reads what the endpoint needs anyway (access.task_context,
access.own_assignment_to_work_on), so the token costs no round trip of its own.

The lane only ever answers success, through the same selectors and services
as the API views (api/tasks.py, api/assignments.py) and with the same
bytes; each request it answers counts toward the caller's write rate like
any API write (jointly.throttles.count_write). Anything else - no token, a
session, an unknown token, a refusal, input the serializers would reject, a
conflict, a spent write rate - goes on down the stack to the API view, whose
answer is the canonical one. Nothing is written before
the lane decides to answer: a refused submit rolls back before it falls
through, so the API view meets the same state.
"""

from __future__ import annotations

import io
import re
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse
from django.urls import reverse
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer

from jointly.domain_errors import DomainError
from jointly.parsers import BoundedJSONParser
from jointly.throttles import count_write

from ..access import own_assignment_to_work_on, task_context
from .assignments import SubmitSerializer, submit_labels
from .authentication import token_in
from ..engine.admission import must_acknowledge_first, work_refusal
from .tasks import lease_next_task

_renderer = JSONRenderer()
_parser = BoundedJSONParser()


def next_task(request, token: str, project_id: int) -> HttpResponse | None:
    project = task_context(None, project_id, token=token)
    if project is None or must_acknowledge_first(project) or work_refusal(project) is not None:
        return None
    if not count_write(request, project.caller):
        return None
    payload, status = lease_next_task(request, project.caller, project)
    return _json(payload, status)


def submit(request, token: str, assignment_id: int) -> HttpResponse | None:
    labels = _submission(request)
    if labels is None:
        return None
    assignment = own_assignment_to_work_on(None, assignment_id, token=token)
    if assignment is None or not assignment.workable or not count_write(request, assignment.caller):
        return None
    try:
        result, replayed = submit_labels(assignment, *labels)
    except (DjangoValidationError, DomainError, APIException):
        return None
    response = _json(result, 200)
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def _submission(request) -> tuple[list, int | None] | None:
    """(instances, active_ms) when the API view's parser and serializer take the body, else None."""
    if request.content_type != "application/json":
        return None
    try:
        # A body past the parser's limit is left unread for the view to refuse (413).
        if int(request.META.get("CONTENT_LENGTH") or 0) > settings.JSON_MAX_BODY_BYTES:
            return None
        data = _parser.parse(io.BytesIO(request.body))
    except (APIException, ValueError):
        return None
    serializer = SubmitSerializer(data=data)
    if not serializer.is_valid():
        return None
    return serializer.validated_data["instances"], serializer.validated_data.get("active_ms")


def _json(payload, status: int) -> HttpResponse:
    if payload is None:
        return HttpResponse(status=status)
    return HttpResponse(_renderer.render(payload), status=status, content_type="application/json")


@lru_cache(maxsize=1)
def _routes() -> tuple[tuple[re.Pattern, object], ...]:
    """The paths of annotation.urls.FAST_LANE as the URLconf spells them, with the id as the one group."""
    from ..urls import FAST_LANE

    sentinel = "987654321"

    def pattern(name: str) -> re.Pattern:
        return re.compile("^" + re.escape(reverse(name, args=[sentinel])).replace(sentinel, r"(\d+)") + "$")

    return tuple((pattern(name), answer) for name, answer in FAST_LANE.items())


class FastLaneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST":
            token = token_in(request)
            if token is not None:
                for pattern, answer in _routes():
                    match = pattern.match(request.path_info)
                    if match:
                        request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware would check it
                        response = answer(request, token, int(match.group(1)))
                        if response is not None:
                            return response
                        break
        return self.get_response(request)
