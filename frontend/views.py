"""Server-rendered pages: sign-in, the role landing pages and the annotator workspace.

Sign-in and sign-out are Django's own LoginView and LogoutView (with the
product's templates), so whatever guards them (login throttling) covers
this page too. The workspace page carries only the project's settings; the
task itself comes from the REST API, which serves the caller's own
assignments and nothing else.
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from annotation.access import annotatable_projects

from .keymap import GESTURES, KEYMAP
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
