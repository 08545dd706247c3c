"""API v1 routes of the annotation app. Add a resource by registering its viewset here."""

from rest_framework.routers import DefaultRouter

from .api.projects import ProjectViewSet
from .api.skeletons import SkeletonViewSet

router = DefaultRouter(trailing_slash=True)
router.register("skeletons", SkeletonViewSet, basename="skeleton")
router.register("projects", ProjectViewSet, basename="project")

urlpatterns = router.urls
