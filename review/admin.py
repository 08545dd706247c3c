"""Admin: scoring results, the review queue and project agreement reports (read-only: scoring writes them)."""

from django.contrib import admin

from .models import ConsensusResult, ProjectAgreement, ReviewTask


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ConsensusResult)
class ConsensusResultAdmin(ReadOnlyAdmin):
    list_display = ("image", "project", "decision", "agreement", "visibility_agreement", "n_annotators",
                    "n_objects", "computed_at")
    list_filter = ("decision", "project")
    search_fields = ("=image__id", "image__file_name")
    list_select_related = ("image", "project")
    show_full_result_count = False


@admin.register(ReviewTask)
class ReviewTaskAdmin(ReadOnlyAdmin):
    list_display = ("image", "project", "state", "created_at", "closed_at")
    list_filter = ("state", "project")
    list_select_related = ("image", "project")
    show_full_result_count = False


@admin.register(ProjectAgreement)
class ProjectAgreementAdmin(ReadOnlyAdmin):
    list_display = ("project", "n_images", "computed_at")
