"""TorchScript networks (the usual export of ViTPose, RTMPose, HRNet): torch.jit.load, CUDA + fp16 when present.

torch.jit.load reads a TorchScript archive: code in TorchScript's own
language and tensors, unpickled by TorchScript's restricted unpickler, which
can build TorchScript types only, never call arbitrary Python. A plain
`torch.save` pickle is refused before it gets that far (see checks.py).
"""

from __future__ import annotations

import numpy as np


def load_torchscript(path: str, device: str | None = None):
    """-> forward(batch (B, 3, h, w) float32) -> list of arrays, and the device it runs on."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    module = torch.jit.load(path, map_location=device).eval()
    half = device.startswith("cuda")
    if half:
        module = module.half()

    @torch.inference_mode()
    def forward(batch: np.ndarray) -> list[np.ndarray]:
        tensor = torch.from_numpy(batch).to(device)
        out = module(tensor.half() if half else tensor)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        return [o.float().cpu().numpy() for o in outs]

    return forward, device


def load_state_dict(path: str) -> dict:
    """A state dict (tensors only) for the `python` runtime's weights: weights_only, never arbitrary objects."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)
