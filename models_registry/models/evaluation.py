from django.db import models


class Evaluation(models.Model):
    """A model version's scores against one project's accepted ground truth (the latest run wins)."""

    model_version = models.ForeignKey("models_registry.ModelVersion", on_delete=models.CASCADE, related_name="evaluations")
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="model_evaluations")
    ap = models.FloatField()
    ap50 = models.FloatField()
    ap75 = models.FloatField()
    apm = models.FloatField()
    apl = models.FloatField()
    ar = models.FloatField()
    pck_005 = models.FloatField(null=True)
    pck_010 = models.FloatField(null=True)
    metrics = models.JSONField(default=dict, help_text="Everything measured, per-keypoint OKS and PCK included.")
    options = models.JSONField(default=dict, blank=True)
    detections = models.FileField(upload_to="evaluations/", max_length=300, blank=True,
                                  help_text="The predictions scored, as a COCO results file.")
    evaluated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "-ap"]
        constraints = [
            models.UniqueConstraint(fields=["model_version", "project"], name="unique_evaluation_per_project"),
        ]

    def __str__(self):
        return f"{self.model_version} on {self.project}: AP {self.ap:.3f}"
