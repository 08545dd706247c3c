from django.urls import path

from .api import ImageConsensus, ProjectAgreementReport
from .review_api import (
    DecideView, ImageHistoryView, NextReviewView, PromoteGoldView, ReleaseReviewView, RenewReviewView, ReviewDetailView,
)

urlpatterns = [
    path("images/<int:pk>/consensus/", ImageConsensus.as_view(), name="image-consensus"),
    path("images/<int:pk>/history/", ImageHistoryView.as_view(), name="image-history"),
    path("images/<int:pk>/promote-gold/", PromoteGoldView.as_view(), name="image-promote-gold"),
    path("projects/<int:pk>/agreement/", ProjectAgreementReport.as_view(), name="project-agreement"),
    path("projects/<int:project_id>/reviews/next/", NextReviewView.as_view(), name="review-next"),
    path("reviews/<int:pk>/", ReviewDetailView.as_view(), name="review-detail"),
    path("reviews/<int:pk>/decide/", DecideView.as_view(), name="review-decide"),
    path("reviews/<int:pk>/renew/", RenewReviewView.as_view(), name="review-renew"),
    path("reviews/<int:pk>/release/", ReleaseReviewView.as_view(), name="review-release"),
]
