from django.db import models


class PoseModel(models.Model):
    """A registered pose model that can pre-label images of its skeleton."""

    name = models.CharField(max_length=200)
    version = models.CharField(max_length=50, default="1")
    skeleton = models.ForeignKey("annotation.Skeleton", on_delete=models.PROTECT, related_name="pose_models")
    framework = models.CharField(max_length=50, default="torch")
    description = models.TextField(blank=True)
    weights = models.FileField(upload_to="models/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "version"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="unique_pose_model_version")]

    def __str__(self):
        return f"{self.name} {self.version}"
