from django.db import models


def image_upload_path(instance, filename):
    # The client's file name is never used as a path: content addressing keeps
    # names unique per project and rules out traversal.
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    ext = ext if ext.isalnum() and len(ext) <= 5 else "bin"
    return f"projects/{instance.project_id}/{instance.sha256[:2]}/{instance.sha256}.{ext}"


class Image(models.Model):
    # Written only through annotation/services/image_status.py, which owns the transitions.
    class Status(models.TextChoices):
        NEW = "new", "New"
        ANNOTATING = "annotating", "In annotation"
        SCORING = "scoring", "Scoring"
        REVIEW = "review", "In review"
        REWORK = "rework", "In rework"
        ACCEPTED = "accepted", "Accepted"

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="images")
    file = models.ImageField(upload_to=image_upload_path, max_length=500, width_field=None, height_field=None)
    file_name = models.CharField(max_length=500, help_text="Original name: what COCO files refer to.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, blank=True)
    coco_id = models.BigIntegerField(null=True, blank=True, help_text="Image id in the imported COCO file.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    is_gold = models.BooleanField(default=False)
    priority = models.IntegerField(default=0)
    extra_replicas = models.PositiveSmallIntegerField(
        default=0, db_default=0,
        help_text="Annotators added beyond the project's replicas because agreement did not settle (adaptive replicas).",
    )
    # Counters kept by the assignment engine (annotation/engine/)
    # under this row's lock on every lease change, so candidate selection is one
    # indexed query over images. The counts are exact; next_lease_expiry may be a
    # lower bound (a submit that skips the recount leaves it), made exact by the
    # next recount, which a past value triggers.
    slots_taken = models.PositiveIntegerField(default=0, help_text="Open leases (expired or not) + submissions.")
    submitted_count = models.PositiveIntegerField(default=0)
    next_lease_expiry = models.DateTimeField(
        null=True, blank=True, help_text="Earliest expiry among open leases: past means a slot can be reclaimed."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "id"]
        indexes = [
            models.Index(fields=["project", "status"]),
            models.Index(fields=["project", "file_name"]),
            models.Index(
                "project", "is_gold", models.F("slots_taken").desc(), models.F("priority").desc(), "id",
                condition=models.Q(status__in=["new", "annotating"]), name="image_task_queue",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "sha256"], condition=~models.Q(sha256=""), name="unique_image_sha256"
            ),
        ]

    def __str__(self):
        return self.file_name
