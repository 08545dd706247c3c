"""Reads behind the dashboards: one set-based query per chart, nothing per image or per person.

The project dashboard's numbers come from the rows the pipeline already
keeps (assignments, consensus results, review tasks and decisions, the
latest project report); the annotator dashboard reads the workforce API
(`/api/v1/workforce/stats/`) from the browser, so it shows exactly what that
API shows its caller and nobody else. The caller's project comes from
`annotation.access.quality_projects`: a page never aggregates a project its
reader could not open through the agreement API.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, F, IntegerField, Q, Value
from django.db.models.functions import Cast, Floor, Least, TruncDate
from django.utils import timezone

from annotation.access import jobs_of_projects, visible_jobs
from annotation.models import Assignment, Image, Project
from jointly.jobs.models import JobRun
from review.models import ConsensusResult, ProjectAgreement, ReviewDecision, ReviewTask

HISTOGRAM_BINS = 20
#: Review queue age buckets: (label, upper bound). The last bucket has no bound.
QUEUE_AGE_BUCKETS = [("< 1 h", timedelta(hours=1)), ("1-4 h", timedelta(hours=4)), ("4-24 h", timedelta(days=1)),
                     ("1-3 days", timedelta(days=3)), ("> 3 days", None)]
#: Jobs the dashboards show as progress bars, and the API that cancels the ones that can be cancelled.
RUNNING = (JobRun.State.QUEUED, JobRun.State.STARTED)


def daily_activity(project: Project) -> list[dict]:
    """Per day and stage: labels submitted, images scored, QA decisions taken (one UNION query).

    Scored counts each image once, at its latest scoring (a rescore moves it).
    """
    submitted = (Assignment.objects.filter(project=project, submitted_at__isnull=False)
                 .annotate(day=TruncDate("submitted_at"), stage=Value("submitted"))
                 .values("day", "stage").annotate(n=Count("pk")).order_by())
    scored = (ConsensusResult.objects.filter(project=project)
              .annotate(day=TruncDate("computed_at"), stage=Value("scored"))
              .values("day", "stage").annotate(n=Count("pk")).order_by())
    decided = (ReviewDecision.objects.filter(project=project)
               .annotate(day=TruncDate("created_at"), stage=Value("decided"))
               .values("day", "stage").annotate(n=Count("pk")).order_by())
    rows = submitted.union(scored, decided, all=True)
    return sorted(({"day": r["day"].isoformat(), "stage": r["stage"], "n": r["n"]} for r in rows),
                  key=lambda r: (r["day"], r["stage"]))


def status_counts(project: Project) -> dict[str, int]:
    """Images per status now (one query)."""
    rows = Image.objects.filter(project=project).values_list("status").annotate(n=Count("pk")).order_by()
    return {status: n for status, n in rows}


def agreement_histogram(project: Project, bins: int = HISTOGRAM_BINS) -> dict:
    """Images per agreement bin over [0, 1] from their latest scores (one query)."""
    bucket = Least(Cast(Floor(F("agreement") * bins), IntegerField()), Value(bins - 1))
    rows = (ConsensusResult.objects.filter(project=project, agreement__isnull=False)
            .annotate(bucket=bucket).values_list("bucket").annotate(n=Count("pk")).order_by())
    counts = [0] * bins
    for b, n in rows:
        counts[max(0, min(bins - 1, int(b)))] += n
    return {"edges": [i / bins for i in range(bins + 1)], "counts": counts}


def outcome_shares(project: Project) -> dict[str, int]:
    """Auto-accepted vs sent to review vs sent back for rework (one query).

    auto_accepted / needs_review: the latest decision of the scoring; rework:
    rework rounds QA leads opened (decisions of action reject).
    """
    row = ConsensusResult.objects.filter(project=project).aggregate(
        auto_accepted=Count("pk", filter=Q(decision="auto_accepted")),
        needs_review=Count("pk", filter=~Q(decision="auto_accepted")),
    )
    row["rework"] = ReviewDecision.objects.filter(project=project, action=ReviewDecision.Action.REJECT).count()
    return row


def queue_age(project: Project, *, now: datetime | None = None) -> list[dict]:
    """Open review tasks per age bucket (one query)."""
    now = now or timezone.now()
    aggregates, lower = {}, None
    for n, (label, upper) in enumerate(QUEUE_AGE_BUCKETS):
        window = Q()
        if upper is not None:
            window &= Q(created_at__gt=now - upper)
        if lower is not None:
            window &= Q(created_at__lte=now - lower)
        aggregates[f"b{n}"] = Count("pk", filter=window)
        lower = upper
    row = ReviewTask.objects.filter(project=project, state=ReviewTask.State.OPEN).aggregate(**aggregates)
    return [{"age": label, "tasks": row[f"b{n}"]} for n, (label, _) in enumerate(QUEUE_AGE_BUCKETS)]


def keypoint_agreement(project: Project) -> dict | None:
    """Per keypoint: agreement, median spread (sigmas), from the latest project report (one query).

    None until the project was scored as a whole (a rescore writes the report).
    """
    row = ProjectAgreement.objects.filter(project=project).values("report", "computed_at").first()
    keypoints = (row or {}).get("report", {}).get("keypoints")
    if not keypoints:
        return None
    return {"names": keypoints.get("name", []), "agreement": keypoints.get("agreement", []),
            "spread": keypoints.get("spread", []), "computed_at": row["computed_at"]}


def running_jobs(user, *, project: Project | None = None, limit: int = 50) -> list[dict]:
    """Queued and running jobs the caller may watch (access.visible_jobs: their own and their managed
    projects'), newest first, as the jobs API shows them; with `project`, only that project's."""
    queryset = visible_jobs(user).filter(state__in=RUNNING)
    if project is not None:
        queryset = queryset.filter(jobs_of_projects(Project.objects.filter(pk=project.pk).values("pk")))
    return [job_row(run) for run in queryset.order_by("-created_at")[:limit]]


def job_row(run: JobRun) -> dict:
    """What a progress bar needs; `cancel` is the URL that stops the job, where the job supports it."""
    cancel = None
    if run.func == "models_registry.jobs.prelabel_project" and run.kwargs.get("run_id"):
        cancel = f"/api/v1/models/prelabel-runs/{int(run.kwargs['run_id'])}/cancel/"
    return {"id": str(run.id), "description": run.description or run.func.rsplit(".", 1)[-1],
            "state": run.state, "progress": run.progress, "message": run.message,
            "url": f"/api/v1/jobs/{run.id}/", "cancel": cancel}


#: The project dashboard's charts, each its own request: the page asks for all at once and draws each
#: as it arrives, so the first chart does not wait for the slowest query.
CHARTS = {
    "status": status_counts,
    "daily": daily_activity,
    "histogram": agreement_histogram,
    "keypoints": keypoint_agreement,
    "outcomes": outcome_shares,
    "queue_age": queue_age,
}


def project_dashboard(project: Project, charts=CHARTS) -> dict:
    """The named charts of the project dashboard (one query each, none per row; outcomes two)."""
    return {"project": {"id": project.pk, "name": project.name}, **{name: CHARTS[name](project) for name in charts}}
