"""The fast lane's place in MIDDLEWARE is a decision: this test fails whenever MIDDLEWARE changes.

annotation.api.fast_lane.FastLaneMiddleware answers tasks/next and submit (with an
API token, on success) before every middleware listed after it, so a middleware
added below it never runs for the API's busiest requests. If you change
MIDDLEWARE, decide whether the new middleware must see those requests (then put
it above the fast lane, and measure bench/bench_tasks.py), then update this list.
"""

from django.conf import settings
from django.urls import resolve

EXPECTED = [
    "django.middleware.security.SecurityMiddleware",
    # Above the lane: one substring test on the query string, and NUL means nothing anywhere.
    "jointly.middleware.RefuseNulMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "annotation.api.fast_lane.FastLaneMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Below the lane: it answers locked-out sign-ins, and the lane's requests sign nobody in.
    "axes.middleware.AxesMiddleware",
]


def test_middleware_is_exactly_the_reviewed_list():
    assert settings.MIDDLEWARE == EXPECTED, __doc__


def test_urls_name_the_fast_lane_answers_and_the_api_views_behind_them():
    from annotation.api import fast_lane
    from annotation.api.assignments import AssignmentViewSet
    from annotation.api.tasks import NextTaskView
    from annotation.urls import FAST_LANE

    assert FAST_LANE == {"task-next": fast_lane.next_task, "assignment-submit": fast_lane.submit}
    assert [(p.pattern, answer) for p, answer in fast_lane._routes()] == [
        (r"^/api/v1/projects/(\d+)/tasks/next/$", fast_lane.next_task),
        (r"^/api/v1/assignments/(\d+)/submit/$", fast_lane.submit),
    ]
    assert resolve("/api/v1/projects/3/tasks/next/").func.view_class is NextTaskView
    assert resolve("/api/v1/assignments/3/submit/").func.cls is AssignmentViewSet
