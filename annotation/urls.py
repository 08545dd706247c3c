"""API v1 routes of the annotation app. Add a resource by registering its viewset here."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from .api import fast_lane
from .api import tasks as task_api
from .api import tenancy as tenancy_api
from .api import workforce as workforce_api
from .api.assignments import AssignmentViewSet
from .api.projects import ProjectViewSet
from .api.skeletons import SkeletonViewSet

router = DefaultRouter(trailing_slash=True)
router.register("skeletons", SkeletonViewSet, basename="skeleton")
router.register("assignments", AssignmentViewSet, basename="assignment")
router.register("projects", ProjectViewSet, basename="project")

#: Where the engine's two hottest endpoints are answered. With an API token, a
#: successful tasks/next or submit is answered by these functions, called from
#: annotation.api.fast_lane.FastLaneMiddleware, which sits ahead of the session,
#: CSRF, common, auth and message middleware (tests/test_middleware_order.py guards
#: that order). Everything else at these two URLs - sessions, refusals, bad input,
#: conflicts - reaches the API views routed below ("task-next" here, the
#: "assignment-submit" action of AssignmentViewSet in the router), whose answers
#: are the canonical ones. Measured against plain function views at the same URLs
#: (bench/bench_tasks.py, see README): the middleware costs about a quarter less
#: server CPU per next+submit cycle, so it stays.
FAST_LANE = {"task-next": fast_lane.next_task, "assignment-submit": fast_lane.submit}

# Workforce and the assignment engine (explicit paths: nested under projects and vendors).
workforce_urls = [
    path("projects/<int:project_id>/tasks/next/", task_api.NextTaskView.as_view(), name="task-next"),
    path("projects/<int:project_id>/instructions/", task_api.ProjectInstructionsView.as_view(), name="project-instructions"),
    path("instruction-examples/<int:example_id>/image/", task_api.InstructionExampleImageView.as_view(),
         name="instruction-example-image"),
    path(
        "projects/<int:project_id>/instructions/acknowledge/", task_api.AcknowledgeInstructionsView.as_view(),
        name="project-instructions-acknowledge",
    ),
    path("vendors/", workforce_api.VendorListView.as_view(), name="vendor-list"),
    path("vendors/<int:vendor_id>/", workforce_api.VendorDetailView.as_view(), name="vendor-detail"),
    path("vendors/<int:vendor_id>/members/", workforce_api.VendorMembersView.as_view(), name="vendor-members"),
    path(
        "vendors/<int:vendor_id>/members/<int:membership_id>/", workforce_api.VendorMemberDetailView.as_view(),
        name="vendor-member-detail",
    ),
    path("vendors/<int:vendor_id>/projects/", workforce_api.VendorProjectsView.as_view(), name="vendor-projects"),
    path("vendors/<int:vendor_id>/staffing/", workforce_api.VendorStaffingView.as_view(), name="vendor-staffing"),
    path(
        "vendors/<int:vendor_id>/staffing/<int:staffing_id>/", workforce_api.VendorStaffingDetailView.as_view(),
        name="vendor-staffing-detail",
    ),
    path(
        "vendors/<int:vendor_id>/staffing/<int:staffing_id>/resume/", workforce_api.ResumeAnnotatorView.as_view(),
        name="vendor-staffing-resume",
    ),
    path("vendors/<int:vendor_id>/timesheet/", workforce_api.VendorTimesheetView.as_view(), name="vendor-timesheet"),
    path("workforce/stats/", workforce_api.AnnotatorStatsView.as_view(), name="workforce-stats"),
    path("organizations/", tenancy_api.OrganizationListView.as_view(), name="organization-list"),
    path("organizations/<int:pk>/", tenancy_api.OrganizationDetailView.as_view(), name="organization-detail"),
    path("instructions/", tenancy_api.InstructionsListView.as_view(), name="instructions-list"),
    path("instructions/<int:pk>/", tenancy_api.InstructionsDetailView.as_view(), name="instructions-detail"),
]

urlpatterns = workforce_urls + router.urls
