"""API v1 routes of the annotation app. Add a resource by registering its viewset here."""

from rest_framework.routers import DefaultRouter

from .api.skeletons import SkeletonViewSet

router = DefaultRouter(trailing_slash=True)
router.register("skeletons", SkeletonViewSet, basename="skeleton")

urlpatterns = router.urls
