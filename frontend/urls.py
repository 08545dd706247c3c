from django.contrib.auth.views import LogoutView
from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.SignInView.as_view(), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("label/<int:project_id>/", views.workspace, name="workspace"),
    path("review/<int:project_id>/", views.review_workspace, name="review-workspace"),
    path("dashboard/projects/<int:project_id>/", views.project_dashboard, name="project-dashboard"),
    path("dashboard/projects/<int:project_id>/data/", views.project_dashboard_data, name="project-dashboard-data"),
    path("dashboard/annotators/", views.annotators_dashboard, name="annotators-dashboard"),
]
