from django.conf import settings
from django.db import models


class Annotation(models.Model):
    """One source's labels for one image.

    `instances` is a list of ``{"bbox": [x, y, w, h], "keypoints": [x1, y1, v1, ...],
    "score"?: float, "area"?: float}`` in COCO order, validated against the
    project's skeleton before it is stored.
    """

    class Source(models.TextChoices):
        ANNOTATOR = "annotator"
        MODEL = "model"
        CONSENSUS = "consensus"
        REVIEW = "review"
        GOLD = "gold"
        IMPORT = "import"

    image = models.ForeignKey("annotation.Image", on_delete=models.CASCADE, related_name="annotations")
    source = models.CharField(max_length=16, choices=Source.choices)
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="annotations"
    )
    pose_model = models.ForeignKey(
        "models_registry.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="annotations"
    )
    instances = models.JSONField(default=list)
    version = models.PositiveIntegerField(default=1, help_text="Optimistic lock: bumped on every change.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["image", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["image", "annotator"], condition=models.Q(source="annotator"),
                name="unique_annotation_per_annotator",
            ),
            models.UniqueConstraint(
                fields=["image", "pose_model"], condition=models.Q(source="model"),
                name="unique_annotation_per_model",
            ),
            models.UniqueConstraint(
                fields=["image", "source"], condition=models.Q(source__in=["consensus", "review", "gold", "import"]),
                name="unique_annotation_per_source",
            ),
            models.CheckConstraint(
                condition=~models.Q(source="annotator") | models.Q(annotator__isnull=False),
                name="annotator_annotation_has_annotator",
            ),
        ]
        indexes = [models.Index(fields=["source", "image"])]

    def __str__(self):
        return f"{self.source} annotation of image {self.image_id}"
