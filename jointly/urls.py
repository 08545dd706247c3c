from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import token_api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("annotation.urls")),
    path("api/v1/", include("review.urls")),
    path("api/v1/", include("jointly.jobs.urls")),
    path("api/v1/auth/token/", token_api.ObtainTokenView.as_view(), name="auth-token"),
    path("api/v1/auth/token/rotate/", token_api.RotateTokenView.as_view(), name="auth-token-rotate"),
    path("api/v1/", include("models_registry.urls")),
    path("django-rq/", include("django_rq.urls")),
    path("", include("frontend.urls")),
]

handler400 = "jointly.api_errors.bad_request"
handler403 = "jointly.api_errors.permission_denied"
handler404 = "jointly.api_errors.page_not_found"
handler500 = "jointly.api_errors.server_error"

# No route serves MEDIA_ROOT: image files go out only through the access-checked views of
# annotation/api/files.py (model weights and evaluation detections are read by the workers only).
