from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.core.exceptions import ValidationError
from django.db import models

unit_interval = [MinValueValidator(0.0), MaxValueValidator(1.0)]

#: The highest `max_instances_per_image` a project may set: scoring an image at this
#: many instances per annotator stays within seconds (bench/bench_scoring_cap.py).
MAX_INSTANCES_PER_IMAGE_CEILING = 500


class Project(models.Model):
    """A labeling job: which skeleton, how many annotators per image, when to trust the result."""

    organization = models.ForeignKey("annotation.Organization", on_delete=models.PROTECT, related_name="projects")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    skeleton = models.ForeignKey(
        "annotation.Skeleton", on_delete=models.PROTECT, related_name="projects",
        help_text="A fixed skeleton version: editing a used skeleton makes a new version, not a change here.",
    )
    instructions = models.ForeignKey(
        "annotation.Instructions", null=True, blank=True, on_delete=models.SET_NULL, related_name="projects"
    )
    replicas = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text="Independent annotators per image.",
    )
    lease_seconds = models.PositiveIntegerField(
        default=1800, validators=[MinValueValidator(30), MaxValueValidator(7 * 24 * 3600)]
    )
    idle_limit_seconds = models.PositiveIntegerField(
        default=300, validators=[MinValueValidator(10)],
        help_text="Longest stretch without input that still counts as active time.",
    )
    auto_accept_oks = models.FloatField(default=0.85, validators=unit_interval)
    review_sample_rate = models.FloatField(
        default=0.05, validators=unit_interval, help_text="Share of auto-accepted images still sent to QA."
    )
    max_replicas = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text="Adaptive replicas: an image whose agreement does not settle gets one more annotator at a time, "
        "up to this many, before it goes to a QA lead. Blank: never more than `replicas`.",
    )
    spot_check_share = models.FloatField(
        default=0.2, validators=unit_interval,
        help_text="Share of a QA lead's tasks taken from spot checks while disputed images also wait.",
    )
    qualification_images = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(100)],
        help_text="Gold images a new annotator labels first; 0: no qualification.",
    )
    qualification_oks = models.FloatField(
        default=0.75, validators=unit_interval, help_text="Mean gold OKS needed to pass qualification.",
    )
    pause_gold_oks = models.FloatField(
        null=True, blank=True, validators=unit_interval,
        help_text="Pause an annotator whose rolling gold OKS falls below this (blank: never).",
    )
    pause_loo_oks = models.FloatField(
        null=True, blank=True, validators=unit_interval,
        help_text="Pause an annotator whose rolling leave-one-out OKS falls below this (blank: never).",
    )
    pause_window = models.PositiveSmallIntegerField(
        default=20, validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="How many of the annotator's latest images the rolling figures cover.",
    )
    gold_rate = models.FloatField(
        default=0.0, validators=unit_interval, help_text="Share of tasks served from gold images."
    )
    prelabel_model = models.ForeignKey(
        "models_registry.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="projects"
    )
    max_instances_per_image = models.PositiveIntegerField(
        default=100, validators=[MinValueValidator(1), MaxValueValidator(MAX_INSTANCES_PER_IMAGE_CEILING)],
        help_text="Most objects one annotator may submit for one image; scoring's cost grows with it.",
    )
    show_prelabels = models.BooleanField(default=True, help_text="Show model pre-labels to annotators.")
    vendors = models.ManyToManyField("annotation.Vendor", blank=True, related_name="projects")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="unique_project_name"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        instructions = self.instructions
        if instructions is not None and instructions.organization_id != self.organization_id:
            # Another organization's guidelines are confidential; an id is not an invitation.
            raise ValidationError({"instructions": f'Invalid pk "{instructions.pk}" - object does not exist.'})
        if self.max_replicas is not None and self.max_replicas < self.replicas:
            raise ValidationError({"max_replicas": [
                f"max_replicas ({self.max_replicas}) must be at least replicas ({self.replicas}), or blank."
            ]})

    @property
    def replica_ceiling(self) -> int:
        """The most annotators an image may get: `max_replicas` when adaptive, else `replicas`."""
        return max(self.replicas, self.max_replicas or 0)
