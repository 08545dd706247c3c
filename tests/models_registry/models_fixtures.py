"""Tiny models made in the tests, and projects whose images are real files in storage."""

from __future__ import annotations

import hashlib
import io

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from annotation.models import Image

K = 3
NAMES = ["kp0", "kp1", "kp2"]


def blob_network(num_keypoints: int = K):
    """A network whose every heatmap peaks at the brightest spot of its input (stride 4).

    Mean over channels, 4x4 average pooling, then a softmax-like exp so the
    peak is 1: a real (if silly) heatmap model, enough to check that crops,
    decoding and the inverse warp put a keypoint back where the image has it.
    """
    import torch

    class Blob(torch.nn.Module):
        def __init__(self, k: int):
            super().__init__()
            self.k = k

        def forward(self, x):
            g = torch.nn.functional.avg_pool2d(x.mean(dim=1, keepdim=True), 4)
            g = torch.exp((g - g.amax(dim=(2, 3), keepdim=True)) / 8.0)
            return g.repeat(1, self.k, 1, 1)

    return Blob(num_keypoints).eval()


def torchscript_bytes(num_keypoints: int = K) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(blob_network(num_keypoints)), buffer)
    return buffer.getvalue()


def onnx_bytes(num_keypoints: int = K) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.onnx.export(blob_network(num_keypoints), torch.zeros(1, 3, 256, 192), buffer, dynamo=False,
                      input_names=["input"], output_names=["heatmaps"],
                      dynamic_axes={"input": {0: "batch"}, "heatmaps": {0: "batch"}})
    return buffer.getvalue()


def blob_image(width: int, height: int, x: float, y: float, sigma: float = 6.0) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    g = 255 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
    return np.repeat(g[..., None], 3, axis=2).astype(np.uint8)


def store_image(project, pixels: np.ndarray, name: str, **fields) -> Image:
    """A project image whose file really is in storage (PNG)."""
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="PNG")
    data = buffer.getvalue()
    image = Image(project=project, file_name=name, width=pixels.shape[1], height=pixels.shape[0],
                  sha256=hashlib.sha256(data).hexdigest(), **fields)
    image.file.save(name, ContentFile(data), save=False)
    image.save()
    return image


def upload(data: bytes, name: str = "model.pt") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def version_fields(skeleton, runtime: str, **extra) -> dict:
    """Registry fields of a blob model: whole-image heatmaps, raw 0..255 input."""
    return {
        "name": extra.pop("name", f"blob-{runtime}"), "version": extra.pop("version", "1"), "skeleton": skeleton,
        "runtime": runtime, "output_keypoints": NAMES, "keypoint_mapping": {n: n for n in NAMES},
        "mean": [0, 0, 0], "std": [1, 1, 1], "input_width": 192, "input_height": 256, "decoding": "heatmap",
        "score_threshold": 0.5, **extra,
    }


def simcc_torchscript_bytes(num_keypoints: int = K, split_ratio: int = 2) -> bytes:
    """A SimCC network (two outputs, as RTMPose exports): per axis, the brightness profile, split_ratio bins per pixel."""
    import torch

    class BlobSimCC(torch.nn.Module):
        def __init__(self, k: int, ratio: int):
            super().__init__()
            self.k, self.ratio = k, ratio

        def forward(self, x):
            g = x.mean(dim=1)  # (B, H, W)
            px = torch.nn.functional.interpolate(g.mean(dim=1, keepdim=True), scale_factor=float(self.ratio),
                                                 mode="linear", align_corners=False)
            py = torch.nn.functional.interpolate(g.mean(dim=2).unsqueeze(1), scale_factor=float(self.ratio),
                                                 mode="linear", align_corners=False)
            px = torch.exp((px - px.amax(dim=2, keepdim=True)) / 2.0)
            py = torch.exp((py - py.amax(dim=2, keepdim=True)) / 2.0)
            return px.repeat(1, self.k, 1), py.repeat(1, self.k, 1)

    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(BlobSimCC(num_keypoints, split_ratio).eval()), buffer)
    return buffer.getvalue()
