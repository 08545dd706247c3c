"""Admin: scoring results, the review queue and project agreement reports (read-only: scoring writes them)."""

from django.contrib import admin

from .models import ConsensusResult, ProjectAgreement, ReviewDecision, ReviewTask


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
    list_display = ("image", "project", "state", "kind", "round", "agreement", "leased_by", "version", "created_at",
                    "closed_at")
    list_filter = ("state", "kind", "project")
    list_select_related = ("image", "project")
    show_full_result_count = False


@admin.register(ProjectAgreement)
class ProjectAgreementAdmin(ReadOnlyAdmin):
    list_display = ("project", "n_images", "computed_at")


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(ReadOnlyAdmin):
    """The audit trail: read-only, and nobody may delete from it (the model refuses too)."""

    list_display = ("created_at", "action", "image", "project", "actor", "task")
    list_filter = ("action", "project")
    search_fields = ("=image__id", "actor__username")
    list_select_related = ("image", "project", "actor", "task")
    readonly_fields = ("task", "image", "project", "actor", "action", "payload", "state_before", "created_at")
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None):
        return False
