from django.conf import settings
from django.db import models


class PrelabelRun(models.Model):
    """One pre-label request: which model on which project, its job, and whether someone cancelled it."""

    model_version = models.ForeignKey("models_registry.ModelVersion", on_delete=models.CASCADE, related_name="runs")
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="prelabel_runs")
    job = models.OneToOneField("jobs.JobRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    options = models.JSONField(default=dict, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"pre-label {self.project_id} with {self.model_version}"
