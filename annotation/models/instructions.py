"""Annotation guidelines: versioned markdown with good and bad example images."""

from django.db import models


class Instructions(models.Model):
    #: Guidelines are an organization's confidential material: only its own projects
    #: may use them (Project.clean) and only its people read them. Rows from before
    #: ownership existed got an owner in migrations 0006 and 0008.
    organization = models.ForeignKey(
        "annotation.Organization", on_delete=models.PROTECT, related_name="instructions",
    )
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="Markdown. Rendered sanitized.")
    version = models.PositiveIntegerField(default=1, help_text="Bumped whenever the body or examples change.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "instructions"
        ordering = ["title"]

    def __str__(self):
        return f"{self.title} (v{self.version})"


class InstructionsRevision(models.Model):
    """The text of an earlier version, so an acknowledgement keeps meaning what was read."""

    instructions = models.ForeignKey(Instructions, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["instructions", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["instructions", "version"], name="unique_instructions_revision")
        ]


class InstructionExample(models.Model):
    class Kind(models.TextChoices):
        GOOD = "good", "Good example"
        BAD = "bad", "Bad example"

    instructions = models.ForeignKey(Instructions, on_delete=models.CASCADE, related_name="examples")
    image = models.ImageField(upload_to="instructions/")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.GOOD)
    caption = models.CharField(max_length=300, blank=True)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["instructions", "order", "id"]
