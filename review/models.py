"""What scoring concluded about an image, and the QA lead's queue.

`ConsensusResult` is rewritten whenever an image is scored (scoring is
idempotent); the consensus instances themselves live in an Annotation with
source `consensus`, next to the annotators' own.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from annotation.models import ProjectAnnotator


class ConsensusResult(models.Model):
    class Decision(models.TextChoices):
        AUTO_ACCEPTED = "auto_accepted", "Auto-accepted"
        NEEDS_REVIEW = "needs_review", "Needs review"
        MORE_REPLICAS = "more_replicas", "One more annotator"

    image = models.OneToOneField("annotation.Image", on_delete=models.CASCADE, related_name="consensus_result")
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="consensus_results")
    agreement = models.FloatField(null=True, help_text="Mean pairwise OKS over objects; missing instances count 0.")
    keypoint_agreement = models.JSONField(default=list, help_text="Per keypoint, null where no pair labeled it.")
    visibility_agreement = models.FloatField(null=True, help_text="Fraction of matched pairs agreeing on v.")
    n_annotators = models.PositiveSmallIntegerField(default=0)
    n_objects = models.PositiveSmallIntegerField(default=0, help_text="Objects that reached the quorum.")
    clusters = models.JSONField(
        default=list, help_text="Per consensus object: support, quorum, accepted, per-keypoint spread (in sigmas)."
    )
    annotator_scores = models.JSONField(
        default=dict, help_text="Per annotator id: OKS against the consensus of the others."
    )
    flags = models.JSONField(default=list)
    decision = models.CharField(max_length=16, choices=Decision.choices)
    reasons = models.JSONField(default=list)
    inputs = models.JSONField(default=dict, help_text="Annotation id -> version that were scored.")
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "decision"]),
            # The project dashboard's daily activity counts a project's scorings per day.
            models.Index(fields=["project", "computed_at"], name="consensus_project_computed"),
        ]

    def __str__(self):
        return f"image {self.image_id}: {self.decision} (OKS {self.agreement})"


class ReviewTask(models.Model):
    """An image waiting for a QA lead, with the reasons it was sent.

    One open task per image (a partial unique constraint); a rework round
    opens a new one, so an image's tasks are its review rounds. The queue
    leases a task to one QA lead at a time, like an annotator's lease, and
    `version` is the optimistic lock a decision must name: a decision or a
    rescore that changed the task bumps it.
    """

    class State(models.TextChoices):
        OPEN = "open"
        DONE = "done"

    class Kind(models.TextChoices):
        REVIEW = "review", "Disputed"
        SPOT_CHECK = "spot_check", "Spot check"
        REWORK = "rework", "Rework result"

    image = models.ForeignKey("annotation.Image", on_delete=models.CASCADE, related_name="review_tasks")
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="review_tasks")
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.REVIEW)
    round = models.PositiveSmallIntegerField(default=0, help_text="Rework rounds the image went through before.")
    agreement = models.FloatField(null=True, blank=True, help_text="Queue order: lowest agreement first.")
    reasons = models.JSONField(default=list)
    version = models.PositiveIntegerField(default=1)
    leased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="review_leases"
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    ahead = models.BooleanField(
        default=False, help_text="Leased ahead of the QA lead's current task (prefetched by the workspace).")
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "state", "created_at"]),
            models.Index(fields=["project", "kind", "agreement", "id"], condition=models.Q(state="open"),
                         name="review_queue"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["image"], condition=models.Q(state="open"), name="one_open_review_per_image"),
        ]

    def __str__(self):
        return f"review of image {self.image_id} ({self.state})"


class AuditTrailIsAppendOnly(Exception):
    """Raised by every path that would change or remove a ReviewDecision."""


class ReviewDecisionQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditTrailIsAppendOnly("Review decisions are an append-only audit trail: rows are never updated.")

    def delete(self):
        raise AuditTrailIsAppendOnly("Review decisions are an append-only audit trail: rows are never deleted.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AuditTrailIsAppendOnly("Review decisions are an append-only audit trail: rows are never updated.")


class ReviewDecision(models.Model):
    """One QA decision: who, when, what, with what, and the state it changed (append-only).

    Nothing updates or deletes a row: the queryset and the model refuse it,
    and on PostgreSQL a trigger refuses UPDATE and DELETE too, so a raw
    statement cannot either. Images and projects with decisions are
    protected from deletion for the same reason.
    """

    class Action(models.TextChoices):
        ACCEPT_CONSENSUS = "accept_consensus"
        ACCEPT_ANNOTATION = "accept_annotation"
        EDIT = "edit"
        REJECT = "reject"
        PROMOTE_GOLD = "promote_gold"

    task = models.ForeignKey(ReviewTask, on_delete=models.PROTECT, related_name="decisions", null=True, blank=True,
                             help_text="The review task decided; none for a decision outside the queue (promote_gold).")
    image = models.ForeignKey("annotation.Image", on_delete=models.PROTECT, related_name="review_decisions")
    project = models.ForeignKey("annotation.Project", on_delete=models.PROTECT, related_name="review_decisions")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_decisions")
    action = models.CharField(max_length=24, choices=Action.choices)
    payload = models.JSONField(default=dict, help_text="What the QA lead sent, as validated.")
    state_before = models.JSONField(default=dict, help_text="The task, image and labels as they were before.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ReviewDecisionQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["image", "created_at"]), models.Index(fields=["project", "created_at"])]

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditTrailIsAppendOnly("Review decisions are an append-only audit trail: rows are never updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditTrailIsAppendOnly("Review decisions are an append-only audit trail: rows are never deleted.")

    def __str__(self):
        return f"{self.action} on image {self.image_id} by {self.actor_id}"


class ScoreRoundQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditTrailIsAppendOnly("Score rounds are append-only: rows are never updated.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AuditTrailIsAppendOnly("Score rounds are append-only: rows are never updated.")


class ScoreRound(models.Model):
    """One scoring outcome of an image, kept for its history (append-only).

    Scoring appends a round when what it concluded differs from the image's
    current ConsensusResult (another decision, agreement, reasons, or other
    inputs), in the same statement batch that rewrites the result: a re-run
    that concludes the same adds nothing, so a rescore killed mid-way and run
    again leaves the rows a clean run leaves. Rounds go with their image.
    """

    image = models.ForeignKey("annotation.Image", on_delete=models.CASCADE, related_name="score_rounds")
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="score_rounds")
    agreement = models.FloatField(null=True)
    decision = models.CharField(max_length=16, choices=ConsensusResult.Decision.choices)
    reasons = models.JSONField(default=list)
    inputs = models.JSONField(default=dict, help_text="Annotation id -> version that were scored.")
    n_annotators = models.PositiveSmallIntegerField(default=0)
    n_objects = models.PositiveSmallIntegerField(default=0)
    flag_counts = models.JSONField(default=dict, help_text="Flags raised, per code.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ScoreRoundQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["image", "created_at"])]

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditTrailIsAppendOnly("Score rounds are append-only: rows are never updated.")
        super().save(*args, **kwargs)

    def __str__(self):
        return f"image {self.image_id} scored {self.decision} at {self.created_at:%Y-%m-%d %H:%M}"


class ProjectAgreement(models.Model):
    """The latest project-wide quality report (histogram, per keypoint, per annotator, learned sigmas)."""

    project = models.OneToOneField("annotation.Project", on_delete=models.CASCADE, related_name="agreement_report")
    report = models.JSONField(default=dict)
    n_images = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(auto_now=True)


class GoldScore(models.Model):
    """One annotator's submission on a gold image, scored against gold when it was submitted.

    `oks` is COCO OKS against the gold objects (pycocotools semantics, the
    skeleton's sigmas), averaged over gold objects plus extra instances
    (a missed or an extra object scores 0). `keypoints` says, per keypoint
    over the matched objects, how far and in which direction the annotator
    was off: what a failed qualification shows them.
    """

    assignment = models.OneToOneField("annotation.Assignment", on_delete=models.CASCADE, related_name="gold_score")
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="gold_scores")
    image = models.ForeignKey("annotation.Image", on_delete=models.CASCADE, related_name="gold_scores")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gold_scores")
    oks = models.FloatField()
    instances = models.JSONField(default=list, help_text="Per gold object: the matched instance and its OKS.")
    keypoints = models.JSONField(default=list, help_text="Per keypoint: OKS term, mean dx/dy in px, distance in sigmas.")
    qualification = models.BooleanField(default=False, help_text="Part of the annotator's qualification.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["project", "annotator", "created_at"])]

    def __str__(self):
        return f"gold OKS {self.oks:.3f} of {self.annotator_id} on image {self.image_id}"


class AnnotatorQuality(ProjectAnnotator):
    """The staffing rows seen as quality figures, for the admin (a proxy: no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "annotator quality"
        verbose_name_plural = "annotator quality"
