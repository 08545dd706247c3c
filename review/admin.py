"""Admin: scoring results, the review queue and project agreement reports (read-only: scoring writes them),
and the project action that estimates sigmas (a job on the `scoring` queue)."""

from django.contrib import admin, messages

from annotation.admin.projects import ProjectAdmin
from jointly.jobs.models import JobRun
from jointly.jobs.services import enqueue

from annotation.access import managed_vendors, statistics_scope

from .models import AnnotatorQuality, ConsensusResult, GoldScore, ProjectAgreement, ReviewDecision, ReviewTask
from .selectors import annotator_quality


@admin.action(description="Estimate sigmas from this project (a job: proposes a new skeleton version)")
def estimate_sigmas(modeladmin, request, queryset):
    """Start one sigma proposal per selected project on the `scoring` queue; it re-scores the
    whole project, so it never runs inside the admin request (its progress is the job's)."""
    for project in queryset:
        run = enqueue("scoring", "review.jobs.propose_sigmas", description=f"Estimate sigmas of {project}",
                      created_by=request.user, project_id=project.pk)
        if run.state == JobRun.State.FINISHED:  # in-process (no REDIS_URL): it already ran
            modeladmin.message_user(request, f"{project}: proposed {run.result['skeleton']} with learned sigmas. "
                                    + "; ".join(run.result["changes"]))
        elif run.state == JobRun.State.FAILED:
            modeladmin.message_user(request, f"{project}: {run.error.split(chr(10) * 2)[0]}", level=messages.ERROR)
        else:
            modeladmin.message_user(request, f"{project}: estimating sigmas as job {run.id} on the scoring queue; "
                                    f"progress at /api/v1/jobs/{run.id}/ and in the job admin.")


ProjectAdmin.actions = [*ProjectAdmin.actions, estimate_sigmas]


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


@admin.register(GoldScore)
class GoldScoreAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "annotator", "project", "image", "oks", "qualification")
    list_filter = ("qualification", "project")
    list_select_related = ("annotator", "project", "image")
    show_full_result_count = False


QUALITY_COLUMNS = ("loo_oks", "gold_oks", "rejection_rate", "flags_per_100_images",
                   "median_active_seconds_per_image", "keypoint_bias")


@admin.register(AnnotatorQuality)
class AnnotatorQualityAdmin(ReadOnlyAdmin):
    """Per annotator and project: the numbers of /api/v1/workforce/stats/ `quality`, plus pause and
    qualification. A vendor manager with admin access sees only their own vendor's people."""

    list_display = ("user", "project", "vendor", "qualification", "paused_at", *QUALITY_COLUMNS)
    list_filter = ("project", "vendor", "qualification")
    list_select_related = ("user", "project", "vendor")
    readonly_fields = ("user", "project", "vendor", "qualification", "qualification_result", "paused_at",
                       "paused_reason")
    exclude = ("added_by",)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if not request.user.is_superuser:
            queryset = queryset.filter(vendor__in=managed_vendors(request.user))
        return queryset

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        scope = statistics_scope(request.user).filter(
            annotator_id__in=[obj.user_id for obj in changelist.result_list],
            project_id__in=[obj.project_id for obj in changelist.result_list],
        )
        rows = {(r["annotator"]["id"], r["project"]["id"]): r for r in annotator_quality(scope)}
        for obj in changelist.result_list:  # the page's rows, computed together
            obj.quality = rows.get((obj.user_id, obj.project_id))
        return changelist


def _quality_column(column: str):
    def show(self, obj):
        row = getattr(obj, "quality", None)
        value = row.get(column) if row else None
        if column == "keypoint_bias":
            return "; ".join(b["text"] or b["keypoint"] for b in value) if value else "-"
        return "-" if value is None else value

    show.short_description = column.replace("_", " ")
    return show


for _column in QUALITY_COLUMNS:
    setattr(AnnotatorQualityAdmin, _column, _quality_column(_column))
