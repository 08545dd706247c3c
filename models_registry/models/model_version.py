"""A registered model version: what it runs, what it outputs, and how that lands on a skeleton."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from ..inference.base import TOP_DOWN, WHOLE_IMAGE, Decoding, Preprocessing
from ..inference.decoding import COORDINATES, HEATMAP, SIMCC
from ..inference.loading import RuntimeSpec


def weights_upload_path(instance, filename):
    # Content-addressed: the client's file name never becomes a path.
    ext = {"torchscript": "pt", "onnx": "onnx", "python": "pt"}.get(instance.runtime, "bin")
    return f"models/{instance.sha256[:2]}/{instance.sha256}.{ext}"


class ModelVersion(models.Model):
    class Runtime(models.TextChoices):
        MEDIAPIPE = "mediapipe", "MediaPipe (bundled pretrained models)"
        TORCHSCRIPT = "torchscript", "TorchScript file"
        ONNX = "onnx", "ONNX file"
        PYTHON = "python", "Python callable"

    class Mode(models.TextChoices):
        TOP_DOWN = TOP_DOWN, "Top-down: crop around each box"
        WHOLE_IMAGE = WHOLE_IMAGE, "Whole image"

    class DecodingKind(models.TextChoices):
        HEATMAP = HEATMAP, "Heatmaps (sub-pixel refined)"
        SIMCC = SIMCC, "SimCC (x and y classification)"
        COORDINATES = COORDINATES, "Direct coordinates"

    class ChannelOrder(models.TextChoices):
        RGB = "rgb"
        BGR = "bgr"

    class Status(models.TextChoices):
        READY = "ready", "Ready: passed its checks"
        DISABLED = "disabled", "Disabled"

    name = models.CharField(max_length=200)
    version = models.CharField(max_length=50, default="1")
    skeleton = models.ForeignKey("annotation.Skeleton", on_delete=models.PROTECT, related_name="pose_models")
    runtime = models.CharField(max_length=16, choices=Runtime.choices, default=Runtime.TORCHSCRIPT)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY)
    # What the model outputs and where it lands.
    output_keypoints = models.JSONField(default=list, blank=True, help_text="The model's output keypoint names, in order.")
    keypoint_mapping = models.JSONField(
        default=dict, blank=True,
        help_text="Skeleton keypoint name -> model output name. Unmapped skeleton keypoints come out v=0.",
    )
    # Where the model comes from.
    weights = models.FileField(upload_to=weights_upload_path, max_length=300, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    file_size = models.BigIntegerField(default=0)
    callable_path = models.CharField(max_length=300, blank=True, help_text="python runtime: dotted path of the factory.")
    preset = models.CharField(max_length=16, blank=True, help_text="mediapipe runtime: pose, hand or face.")
    options = models.JSONField(default=dict, blank=True, help_text="Runtime options (e.g. max_instances).")
    # Preprocessing.
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.TOP_DOWN)
    input_width = models.PositiveIntegerField(default=192, validators=[MinValueValidator(8), MaxValueValidator(4096)])
    input_height = models.PositiveIntegerField(default=256, validators=[MinValueValidator(8), MaxValueValidator(4096)])
    mean = models.JSONField(default=list, blank=True, help_text="Per-channel mean in 0..255 (ImageNet if empty).")
    std = models.JSONField(default=list, blank=True, help_text="Per-channel std in 0..255 (ImageNet if empty).")
    channel_order = models.CharField(max_length=3, choices=ChannelOrder.choices, default=ChannelOrder.RGB)
    box_padding = models.FloatField(default=1.25, validators=[MinValueValidator(1.0), MaxValueValidator(3.0)])
    # Decoding.
    decoding = models.CharField(max_length=16, choices=DecodingKind.choices, default=DecodingKind.HEATMAP)
    simcc_split_ratio = models.FloatField(default=2.0, validators=[MinValueValidator(0.1), MaxValueValidator(16)])
    coordinates_normalized = models.BooleanField(default=False, help_text="Coordinates are 0..1, not input pixels.")
    score_threshold = models.FloatField(default=0.3, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    below_threshold_visibility = models.PositiveSmallIntegerField(
        choices=[(0, "0: not labeled (dropped)"), (1, "1: labeled, unsure")], default=1,
    )
    # What the checks saw.
    check_report = models.JSONField(default=dict, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "version"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="unique_pose_model_version")]

    def __str__(self):
        return f"{self.name} {self.version}"

    @property
    def is_usable(self) -> bool:
        return self.status == self.Status.READY and self.checked_at is not None

    def runtime_spec(self, *, weights_path: str | None = None, batch_size: int = 64, device=None) -> RuntimeSpec:
        pre = Preprocessing()
        return RuntimeSpec(
            runtime=self.runtime,
            keypoint_names=tuple(self.output_keypoints),
            preprocessing=Preprocessing(
                input_w=self.input_width, input_h=self.input_height, mode=self.mode,
                mean=tuple(self.mean) if self.mean else pre.mean, std=tuple(self.std) if self.std else pre.std,
                channel_order=self.channel_order, padding=self.box_padding,
            ),
            decoding=Decoding(self.decoding, self.simcc_split_ratio, self.coordinates_normalized),
            weights_path=weights_path, callable_path=self.callable_path, preset=self.preset,
            options=dict(self.options or {}), batch_size=batch_size, device=device,
        )
