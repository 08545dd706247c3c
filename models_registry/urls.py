"""API v1 routes of the model registry, included from jointly/urls.py under /api/v1/."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from .api.views import CancelPrelabelView, LeaderboardView, ModelVersionViewSet

router = DefaultRouter(trailing_slash=True)
router.register("models", ModelVersionViewSet, basename="model-version")

urlpatterns = [
    path("models/leaderboard/", LeaderboardView.as_view(), name="model-leaderboard"),
    path("models/prelabel-runs/<int:run_id>/cancel/", CancelPrelabelView.as_view(), name="prelabel-cancel"),
] + router.urls
