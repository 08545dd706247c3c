"""What scoring concluded about an image, and the QA lead's queue.

`ConsensusResult` is rewritten whenever an image is scored (scoring is
idempotent); the consensus instances themselves live in an Annotation with
source `consensus`, next to the annotators' own.
"""

from django.db import models


class ConsensusResult(models.Model):
    class Decision(models.TextChoices):
        AUTO_ACCEPTED = "auto_accepted", "Auto-accepted"
        NEEDS_REVIEW = "needs_review", "Needs review"

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
        indexes = [models.Index(fields=["project", "decision"])]

    def __str__(self):
        return f"image {self.image_id}: {self.decision} (OKS {self.agreement})"


class ReviewTask(models.Model):
    """An image waiting for a QA lead, with the reasons it was sent.

    An image has at most one open task; each review round (a rework sends the
    image back through scoring) opens a new one, and the done ones stay.
    """

    class State(models.TextChoices):
        OPEN = "open"
        DONE = "done"

    image = models.ForeignKey("annotation.Image", on_delete=models.CASCADE, related_name="review_tasks")
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="review_tasks")
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    reasons = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "state", "created_at"])]
        constraints = [
            models.UniqueConstraint(fields=["image"], condition=models.Q(state="open"), name="one_open_review_per_image"),
        ]

    def __str__(self):
        return f"review of image {self.image_id} ({self.state})"


class ProjectAgreement(models.Model):
    """The latest project-wide quality report (histogram, per keypoint, per annotator, learned sigmas)."""

    project = models.OneToOneField("annotation.Project", on_delete=models.CASCADE, related_name="agreement_report")
    report = models.JSONField(default=dict)
    n_images = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(auto_now=True)
