from django.urls import path

from .api import ImageConsensus, ProjectAgreementReport

urlpatterns = [
    path("images/<int:pk>/consensus/", ImageConsensus.as_view(), name="image-consensus"),
    path("projects/<int:pk>/agreement/", ProjectAgreementReport.as_view(), name="project-agreement"),
]
