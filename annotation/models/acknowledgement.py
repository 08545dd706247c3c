"""An annotator's acknowledgement of one version of a project's instructions.

`tasks/next` refuses work until the caller has acknowledged the version that
is current now, so a change of the guidelines reaches everybody before their
next label. Rows are never updated: the history shows who read what, when.
"""

from django.conf import settings
from django.db import models


class InstructionsAcknowledgement(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="instructions_acknowledgements"
    )
    instructions = models.ForeignKey(
        "annotation.Instructions", on_delete=models.CASCADE, related_name="acknowledgements"
    )
    version = models.PositiveIntegerField()
    project = models.ForeignKey(
        "annotation.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The project the annotator was about to work on when acknowledging.",
    )
    acknowledged_at = models.DateTimeField()

    class Meta:
        ordering = ["-acknowledged_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "instructions", "version"], name="unique_acknowledgement"),
        ]

    def __str__(self):
        return f"{self.user} read {self.instructions_id} v{self.version}"
