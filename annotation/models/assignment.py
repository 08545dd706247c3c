from django.conf import settings
from django.db import models


class Assignment(models.Model):
    """One annotator's lease on one image."""

    class State(models.TextChoices):
        LEASED = "leased"
        SUBMITTED = "submitted"
        RELEASED = "released"
        EXPIRED = "expired"
        REJECTED = "rejected"

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="assignments")
    image = models.ForeignKey("annotation.Image", on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments")
    state = models.CharField(max_length=16, choices=State.choices, default=State.LEASED)
    leased_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    draft = models.JSONField(null=True, blank=True)
    active_ms = models.PositiveBigIntegerField(default=0)
    annotation = models.ForeignKey(
        "annotation.Annotation", null=True, blank=True, on_delete=models.SET_NULL, related_name="assignments"
    )
    instructions_version = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-leased_at"]
        indexes = [
            models.Index(fields=["project", "annotator", "state"]),
            models.Index(fields=["image", "state"]),
            models.Index(fields=["state", "lease_expires_at"]),
        ]

    def __str__(self):
        return f"{self.annotator} on image {self.image_id} ({self.state})"
