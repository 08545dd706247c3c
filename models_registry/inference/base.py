"""The one interface every runtime implements: images in, instances with scores out.

A runtime is built once per job (loading a model is the slow part) and then
called on batches::

    runtime.predict(images, boxes) -> list[Prediction]

`images` is a list of (H, W, 3) uint8 RGB arrays; `boxes` is, per image,
None (let the runtime find the objects: its own detector, or the whole
image) or an (N, 4) float array of [x, y, w, h] boxes to look inside. One
Prediction comes back per image, in the model's own keypoint order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

TOP_DOWN, WHOLE_IMAGE = "top_down", "whole_image"


class ModelLoadError(Exception):
    """The model file or configuration cannot be used; the message says why, for a person,
    and `field` which setting it is about (weights, callable_path, preset, output_keypoints)."""

    def __init__(self, message: str, field: str = "weights"):
        super().__init__(message)
        self.field = field


@dataclass
class Prediction:
    """Instances found in one image: boxes (N, 4) [x, y, w, h], keypoints (N, K, 2), scores (N, K)."""

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls, num_keypoints: int) -> "Prediction":
        return cls(np.zeros((0, 4)), np.zeros((0, num_keypoints, 2)), np.zeros((0, num_keypoints)))

    def __len__(self) -> int:
        return len(self.boxes)


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the network's input tensor (B, 3, input_h, input_w) float32.

    mean and std are per channel in 0..255 units, in the network's channel
    order (ImageNet RGB: mean 123.675, 116.28, 103.53; std 58.395, 57.12, 57.375).
    """

    input_w: int = 192
    input_h: int = 256
    mode: str = TOP_DOWN
    mean: tuple[float, float, float] = (123.675, 116.28, 103.53)
    std: tuple[float, float, float] = (58.395, 57.12, 57.375)
    channel_order: str = "rgb"
    padding: float = 1.25


@dataclass(frozen=True)
class Decoding:
    kind: str = "heatmap"
    split_ratio: float = 2.0  # SimCC bins per input pixel
    normalized: bool = False  # coordinates in 0..1 instead of input pixels


class Runtime(Protocol):
    keypoint_names: tuple[str, ...]
    #: True when the runtime finds objects itself (boxes=None is meaningful).
    has_detector: bool

    def predict(self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray | None] | None = None,
                ) -> list[Prediction]: ...


@dataclass
class DryRunReport:
    """What a check on a blank input saw: the raw output shapes and any problem with them."""

    output_shapes: list[tuple] = field(default_factory=list)
    problem: str | None = None
