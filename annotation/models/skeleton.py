"""Skeleton templates: ordered keypoints with OKS sigmas, edges and flip pairs.

Keypoints refer to their flip partner, and edges to their ends, by keypoint
*name*: names survive reordering and copying into a new version, database ids
do not. `Skeleton.spec()` turns that into the 0-based index form the kernels
and COCO use.
"""

from dataclasses import dataclass

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

hex_color = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Enter a colour as #rrggbb.")


@dataclass(frozen=True)
class SkeletonSpec:
    """A skeleton in index form: what kernels, validation and COCO work with."""

    names: tuple[str, ...]
    sigmas: tuple[float, ...]
    colors: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]  # 0-based
    flip_pairs: tuple[tuple[int, int], ...]  # 0-based, each pair once, i < j

    @property
    def num_keypoints(self) -> int:
        return len(self.names)


class Skeleton(models.Model):
    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField(default=1)
    description = models.TextField(blank=True)
    supercategory = models.CharField(max_length=100, blank=True, help_text="COCO supercategory, e.g. 'person'.")
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="next_versions",
        help_text="The version this one was derived from.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="unique_skeleton_version")]

    def __str__(self):
        return f"{self.name} v{self.version}"

    @staticmethod
    def frozen_expression() -> models.Exists:
        """A skeleton is frozen once any annotation depends on it: edits then make a new version.
        As an expression, so a list annotates it (`with_frozen`) instead of asking per row."""
        from .annotation import Annotation

        return models.Exists(Annotation.objects.filter(image__project__skeleton=models.OuterRef("pk")))

    @classmethod
    def with_frozen(cls, queryset):
        return queryset.annotate(frozen=cls.frozen_expression())

    @property
    def is_frozen(self) -> bool:
        frozen = getattr(self, "frozen", None)
        if frozen is None:
            frozen = Skeleton.with_frozen(Skeleton.objects.filter(pk=self.pk)).values_list("frozen", flat=True).get()
        return frozen

    def spec(self) -> SkeletonSpec:
        keypoints = list(self.keypoints.all())  # ordered by `order`
        index = {kp.name: i for i, kp in enumerate(keypoints)}
        flips = {
            tuple(sorted((index[kp.name], index[kp.flip_partner])))
            for kp in keypoints
            if kp.flip_partner and kp.flip_partner in index
        }
        return SkeletonSpec(
            names=tuple(kp.name for kp in keypoints),
            sigmas=tuple(kp.sigma for kp in keypoints),
            colors=tuple(kp.color for kp in keypoints),
            edges=tuple((index[e.source], index[e.target]) for e in self.edges.all()),
            flip_pairs=tuple(sorted(flips)),
        )


class Keypoint(models.Model):
    skeleton = models.ForeignKey(Skeleton, on_delete=models.CASCADE, related_name="keypoints")
    order = models.PositiveIntegerField(help_text="Position in the COCO keypoint list (0-based).")
    name = models.CharField(max_length=64)
    sigma = models.FloatField(help_text="OKS sigma: per-keypoint labeling spread relative to object scale.")
    color = models.CharField(max_length=7, default="#1f77b4", validators=[hex_color])
    flip_partner = models.CharField(
        max_length=64, blank=True, help_text="Name of the mirror keypoint (left_eye <-> right_eye)."
    )
    # Keypoints have no canonical coordinates; presets give a drawing position so
    # the admin preview looks like a body, not a ring. Blank: placed on a circle.
    layout_x = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Preview position, 0 (left) to 1 (right).",
    )
    layout_y = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Preview position, 0 (top) to 1 (bottom).",
    )

    class Meta:
        ordering = ["skeleton", "order"]
        constraints = [
            models.UniqueConstraint(fields=["skeleton", "name"], name="unique_keypoint_name"),
            models.UniqueConstraint(fields=["skeleton", "order"], name="unique_keypoint_order"),
            models.CheckConstraint(condition=models.Q(sigma__gt=0), name="keypoint_sigma_positive"),
        ]

    def __str__(self):
        return self.name


class SkeletonEdge(models.Model):
    skeleton = models.ForeignKey(Skeleton, on_delete=models.CASCADE, related_name="edges")
    source = models.CharField(max_length=64, help_text="Keypoint name at one end.")
    target = models.CharField(max_length=64, help_text="Keypoint name at the other end.")
    color = models.CharField(max_length=7, blank=True, validators=[hex_color])

    class Meta:
        ordering = ["skeleton", "id"]

    def __str__(self):
        return f"{self.source}-{self.target}"
