"""Server-rendered pages: sign-in, the role landing pages, the annotator and QA review workspaces, dashboards.

Sign-in and sign-out are Django's own LoginView and LogoutView (with the
product's templates), so whatever guards them (login throttling) covers
this page too. The workspace page carries only the project's settings; the
task itself comes from the REST API, which serves the caller's own
assignments and nothing else.
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from annotation.access import annotatable_projects, managed_vendors, quality_projects, reviewable_projects

from .dashboards import project_dashboard as project_dashboard_numbers
from .dashboards import CHARTS as DASHBOARD_CHARTS
from .dashboards import running_jobs
from .keymap import GESTURES, KEYMAP, REVIEW_KEYMAP
from .selectors import annotator_projects, reachable_areas


class SignInView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


def home(request):
    """`/`: the landing page of whoever is signed in; anonymous visitors are asked to sign in."""
    if not request.user.is_authenticated:
        return auth_views.redirect_to_login(request.get_full_path())
    projects = annotator_projects(request.user)
    if projects:
        return render(request, "frontend/home_annotator.html", {"rows": projects})
    return render(request, "frontend/home_reachable.html", {"areas": reachable_areas(request.user)})


@login_required
def workspace(request, project_id: int):
    """The keypoint editor for one project the caller is staffed on (404 otherwise, as the API answers)."""
    project = annotatable_projects(request.user).select_related("skeleton").filter(pk=project_id).first()
    if project is None:
        raise Http404("You are not staffed on this project.")
    config = {
        "project": {
            "id": project.pk,
            "name": project.name,
            "idle_limit_seconds": project.idle_limit_seconds,
            "lease_seconds": project.lease_seconds,
            "has_instructions": bool(project.instructions_id),
        },
        "user": {"id": request.user.pk, "username": request.user.get_username()},
        "urls": {
            "next": f"/api/v1/projects/{project.pk}/tasks/next/",
            "instructions": f"/api/v1/projects/{project.pk}/instructions/",
            "acknowledge": f"/api/v1/projects/{project.pk}/instructions/acknowledge/",
            "assignment": "/api/v1/assignments/",
            "home": reverse("home"),
        },
        "keymap": KEYMAP,
    }
    return render(request, "frontend/workspace.html", {"project": project, "config": config, "gestures": GESTURES})


@login_required
def review_workspace(request, project_id: int):
    """The QA review workspace of one project whose queue the caller works (404 otherwise, as the API).

    The page carries the project's id and the API's URLs only: every label,
    name and number it shows comes from the review API, which serves QA leads
    and managers of the project and nobody else.
    """
    project = reviewable_projects(request.user).filter(pk=project_id).first()
    if project is None:
        raise Http404("You do not review this project.")
    config = {
        "project": {"id": project.pk, "name": project.name},
        "user": {"id": request.user.pk, "username": request.user.get_username()},
        "urls": {
            "next": f"/api/v1/projects/{project.pk}/reviews/next/",
            "task": "/api/v1/reviews/",
            "home": reverse("home"),
        },
        "keymap": REVIEW_KEYMAP,
        "edit_keymap": KEYMAP,  # edit mode is the editor's: its keys, as the person bound them
    }
    return render(request, "frontend/review.html", {"project": project, "config": config, "keymap": REVIEW_KEYMAP})


def _dashboard_project(request, project_id: int):
    project = quality_projects(request.user).filter(pk=project_id).first()
    if project is None:
        raise Http404("You cannot read this project's numbers.")
    return project


@login_required
def project_dashboard(request, project_id: int):
    """Charts of one project (managers and QA leads: whoever may read its agreement API)."""
    project = _dashboard_project(request, project_id)
    config = {
        "project": {"id": project.pk, "name": project.name},
        "urls": {
            "data": reverse("project-dashboard-data", args=[project.pk]),
            "rescore": f"/api/v1/projects/{project.pk}/agreement/",
            "review": reverse("review-workspace", args=[project.pk]),
        },
        "jobs": running_jobs(request.user, project=project),
    }
    return render(request, "frontend/dashboard_project.html", {"project": project, "config": config})


@login_required
def project_dashboard_data(request, project_id: int):
    """The project dashboard's numbers as JSON (fetched by the page, so the HTML arrives at once);
    `?chart=NAME` (repeatable) for some charts only, 400 naming an unknown one."""
    project = _dashboard_project(request, project_id)
    charts = list(dict.fromkeys(request.GET.getlist("chart"))) or list(DASHBOARD_CHARTS)
    unknown = [name for name in charts if name not in DASHBOARD_CHARTS]
    if unknown:
        return JsonResponse({"detail": "Unknown chart.", "errors": {"chart": [
            f"Unknown chart {', '.join(unknown)}; expected some of {', '.join(DASHBOARD_CHARTS)}."]}}, status=400)
    return JsonResponse(project_dashboard_numbers(project, charts))


@login_required
def annotators_dashboard(request):
    """Annotators' speed and quality: read in the browser from /api/v1/workforce/stats/, so a vendor
    manager sees their own people exactly as the API scopes them, and nobody else."""
    vendors = list(managed_vendors(request.user).order_by("name").values("pk", "name")[:200])
    config = {
        "urls": {"stats": "/api/v1/workforce/stats/?group_by=project"},
        "jobs": running_jobs(request.user),
    }
    return render(request, "frontend/dashboard_annotators.html", {"config": config, "vendors": vendors})
