"""Admin: scoring results, the review queue and project agreement reports (read-only: scoring writes them),
and the project action that estimates sigmas (a job on the `scoring` queue)."""

from django.contrib import admin, messages

from annotation.admin.projects import ProjectAdmin
from jointly.jobs.models import JobRun
from jointly.jobs.services import enqueue

from .models import ConsensusResult, ProjectAgreement, ReviewTask


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
    list_display = ("image", "project", "state", "created_at", "closed_at")
    list_filter = ("state", "project")
    list_select_related = ("image", "project")
    show_full_result_count = False


@admin.register(ProjectAgreement)
class ProjectAgreementAdmin(ReadOnlyAdmin):
    list_display = ("project", "n_images", "computed_at")
