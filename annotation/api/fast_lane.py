"""The engine's two hottest requests: tasks/next and submit, answered by plain function views.

Every annotator calls tasks/next and submit in a loop, all day, so on a
busy project these two are nearly all of the API's traffic (bench/bench_tasks.py
measures that loop). annotation/urls.py routes both URLs to the views at the
end of this module. A request with an API token is answered by the functions
here: no DRF request, content negotiation, authentication classes or
serializer round. The caller is identified by the request's first
statement, which reads what the endpoint needs anyway (access.task_context,
access.own_assignment_to_work_on), so the token costs no round trip of its own.
Every middleware runs, as for any other request. (Until this was measured
against a middleware that answered them ahead of the session, CSRF and
common middleware, it was that middleware; the plain views were as fast,
see the README.)

The lane only ever answers success, through the same selectors and services
as the API views (api/tasks.py, api/assignments.py) and with the same
bytes. Anything else - no token, a session, an unknown token, a refusal,
input the serializers would reject, a conflict - goes on down the stack to
the API view, whose answer is the canonical one. Nothing is written before
the lane decides to answer: a refused submit rolls back before it falls
through, so the API view meets the same state.
"""

from __future__ import annotations

import io

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer

from jointly.domain_errors import DomainError

from ..access import own_assignment_to_work_on, task_context
from .assignments import AssignmentViewSet, SubmitSerializer, submit_labels
from .authentication import token_in
from .tasks import NextTaskView, lease_next_task, must_acknowledge_first, work_refusal

_renderer = JSONRenderer()
_parser = JSONParser()


def next_task(request, token: str, project_id: int) -> HttpResponse | None:
    project = task_context(None, project_id, token=token)
    if project is None or must_acknowledge_first(project) or work_refusal(project) is not None:
        return None
    payload, status = lease_next_task(request, project.caller, project)
    return _json(payload, status)


def submit(request, token: str, assignment_id: int) -> HttpResponse | None:
    labels = _submission(request)
    if labels is None:
        return None
    assignment = own_assignment_to_work_on(None, assignment_id, token=token)
    if assignment is None or not assignment.workable:
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
        data = _parser.parse(io.BytesIO(request.body))
    except ParseError:
        return None
    serializer = SubmitSerializer(data=data)
    if not serializer.is_valid():
        return None
    return serializer.validated_data["instances"], serializer.validated_data.get("active_ms")


def _json(payload, status: int) -> HttpResponse:
    if payload is None:
        return HttpResponse(status=status)
    return HttpResponse(_renderer.render(payload), status=status, content_type="application/json")


# --- the two views ---------------------------------------------------------------------
# Plain function views at the API's own URLs (annotation/urls.py routes both here):
# a token caller's success is answered by the functions above; everything else is
# handed to the API view, whose answer (and CSRF check for sessions) is the canonical one.

_next_task_view = NextTaskView.as_view()
_submit_view = AssignmentViewSet.as_view({"post": "submit"})


@csrf_exempt  # the API view below enforces CSRF for session callers, as DRF always does
def next_task_view(request, project_id: int):
    token = token_in(request) if request.method == "POST" else None
    if token is not None:
        response = next_task(request, token, project_id)
        if response is not None:
            return response
    return _next_task_view(request, project_id=project_id)


@csrf_exempt
def submit_view(request, pk: int):
    token = token_in(request) if request.method == "POST" else None
    if token is not None:
        response = submit(request, token, pk)
        if response is not None:
            return response
    return _submit_view(request, pk=pk)
