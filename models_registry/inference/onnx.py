"""ONNX networks (the usual export of RTMPose and YOLO-pose) run by onnxruntime, CUDA when it is offered."""

from __future__ import annotations

import numpy as np


def load_onnx(path: str, device: str | None = None):
    """-> forward(batch (B, 3, h, w) float32) -> list of arrays, and the execution provider used."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    providers = ["CPUExecutionProvider"]
    if device != "cpu" and "CUDAExecutionProvider" in available:
        providers.insert(0, "CUDAExecutionProvider")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(path, sess_options=options, providers=providers)
    input_name = session.get_inputs()[0].name

    def forward(batch: np.ndarray) -> list[np.ndarray]:
        return [np.asarray(o) for o in session.run(None, {input_name: batch})]

    return forward, session.get_providers()[0]
