"""API v1 routes of the annotation app. Add a resource by registering its viewset here."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from .api import fast_lane
from .api import tasks as task_api
from .api import workforce as workforce_api
from .api.assignments import AssignmentViewSet
from .api.projects import ProjectViewSet
from .api.skeletons import SkeletonViewSet

router = DefaultRouter(trailing_slash=True)
router.register("skeletons", SkeletonViewSet, basename="skeleton")
router.register("assignments", AssignmentViewSet, basename="assignment")
router.register("projects", ProjectViewSet, basename="project")

# The engine's two hottest endpoints are answered HERE, by plain function views
# (annotation/api/fast_lane.py): a token caller's success directly, anything else by
# the API views they hand over to. Those API views stay routed below at the same
# paths (never reached by resolution, which takes the first match) so the OpenAPI
# schema keeps describing the endpoints.
hot_path_urls = [
    path("projects/<int:project_id>/tasks/next/", fast_lane.next_task_view, name="task-next"),
    path("assignments/<int:pk>/submit/", fast_lane.submit_view, name="assignment-submit"),
]

# Workforce and the assignment engine (explicit paths: nested under projects and vendors).
workforce_urls = [
    path("projects/<int:project_id>/tasks/next/", task_api.NextTaskView.as_view()),
    path("projects/<int:project_id>/instructions/", task_api.ProjectInstructionsView.as_view(), name="project-instructions"),
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
]

urlpatterns = hot_path_urls + workforce_urls + router.urls
