"""One annotator's lease on one image: the unit the assignment engine hands out.

The database enforces the invariants that must survive any bug or race:
one assignment per (image, annotator), so nobody labels an image twice, and
at most one open lease per (project, annotator), so a double click on "next"
cannot hold two images - plus at most one lease *ahead*: the image the
workspace leases and fetches while the person labels the current one, so the
next image appears at once after submit (see engine/leases.next_task). The
replica limit per image is kept by the engine under the image's row lock
(see annotation/engine/).
"""

from django.conf import settings
from django.db import models


class Assignment(models.Model):
    class State(models.TextChoices):
        LEASED = "leased"
        SUBMITTED = "submitted"
        RELEASED = "released"
        EXPIRED = "expired"
        REJECTED = "rejected"
        #: Sent back by a QA lead to the same annotator: reserved, it is their next task.
        REWORK = "rework"

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="assignments")
    image = models.ForeignKey("annotation.Image", on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments")
    vendor = models.ForeignKey(
        "annotation.Vendor", null=True, blank=True, on_delete=models.SET_NULL, related_name="assignments",
        help_text="The vendor that staffed the annotator on the project: who bills this work.",
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.LEASED)
    leased_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    draft = models.JSONField(null=True, blank=True)
    draft_saved_at = models.DateTimeField(null=True, blank=True)
    active_ms = models.PositiveBigIntegerField(
        default=0, help_text="Credited active time: the client's figure capped by wall time and the idle limit."
    )
    client_active_ms = models.PositiveBigIntegerField(default=0, help_text="Active time as the client reported it.")
    observed_ms = models.PositiveBigIntegerField(
        default=0, help_text="Time between the server-seen events of this lease, each gap capped by the idle limit."
    )
    last_activity_at = models.DateTimeField(null=True, blank=True)
    instance_count = models.PositiveIntegerField(default=0)
    submission_digest = models.CharField(
        max_length=64, blank=True, help_text="sha256 of the submitted instances: makes a retried submit idempotent."
    )
    annotation = models.ForeignKey(
        "annotation.Annotation", null=True, blank=True, on_delete=models.SET_NULL, related_name="assignments"
    )
    instructions_version = models.PositiveIntegerField(null=True, blank=True)
    ahead = models.BooleanField(
        default=False, db_default=False,
        help_text="Leased ahead: the image this annotator gets next, fetched while they label the current one.",
    )
    review_comments = models.JSONField(
        null=True, blank=True,
        help_text="The QA lead's comments of the rework round that sent this image back: "
        "[{instance, keypoint, x, y, text, author}].",
    )

    class Meta:
        ordering = ["-leased_at"]
        indexes = [
            models.Index(fields=["project", "annotator", "state"]),
            models.Index(fields=["image", "state"]),
            models.Index(fields=["state", "lease_expires_at"]),
            models.Index(fields=["vendor", "submitted_at"]),
            # The project dashboard's daily activity counts a project's submissions per day.
            models.Index(fields=["project", "submitted_at"], name="assignment_project_submitted"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["image", "annotator"], name="one_assignment_per_image_and_annotator"),
            models.UniqueConstraint(
                fields=["project", "annotator", "ahead"], condition=models.Q(state="leased"),
                name="one_current_and_one_ahead_lease",
            ),
        ]

    def __str__(self):
        return f"{self.annotator} on image {self.image_id} ({self.state})"
