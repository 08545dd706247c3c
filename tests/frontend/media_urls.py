"""The project's URLs plus uploaded files, for the live-server browser tests.

The test server runs with DEBUG off, so jointly/urls.py serves no media;
in production a web server or S3 serves them.
"""

from django.conf import settings
from django.urls import re_path
from django.views.static import serve

from jointly.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    *project_urlpatterns,
]
