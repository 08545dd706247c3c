"""Pre-label throughput (images/s) per runtime at batch 1 and 64, on this machine's CPU or GPU.

Each image is 640x480 with one person box; top-down runtimes crop it to a
256x192 input. Timed: the whole runtime call (crop, normalize, forward,
decode, inverse warp), not image decoding or database writes. The
TorchScript, ONNX and python runtimes run the same network (random weights,
the shape of a small SimpleBaseline: strided convs to 17 heatmaps of 64x48);
mediapipe runs its bundled BlazePose (pose_landmark_full) on each box crop.

    python bench/bench_prelabel.py [--repeats 3] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from models_registry.inference.base import Decoding, Preprocessing  # noqa: E402
from models_registry.inference.loading import RuntimeSpec, build_runtime  # noqa: E402
from models_registry.inference.mediapipe_presets import COCO17  # noqa: E402


def network():
    import torch
    from torch import nn

    def block(cin, cout, stride):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    return nn.Sequential(block(3, 32, 2), block(32, 64, 2), block(64, 128, 1), block(128, 128, 1),
                         block(128, 128, 1), nn.Conv2d(128, 17, 1)).eval()


def export(tmp: str) -> tuple[str, str]:
    import torch

    net = network()
    ts_path, onnx_path = os.path.join(tmp, "net.pt"), os.path.join(tmp, "net.onnx")
    torch.jit.save(torch.jit.trace(net, torch.zeros(1, 3, 256, 192)), ts_path)
    buffer = io.BytesIO()
    torch.onnx.export(net, torch.zeros(1, 3, 256, 192), buffer, dynamo=False, input_names=["input"],
                      dynamic_axes={"input": {0: "batch"}})
    with open(onnx_path, "wb") as fh:
        fh.write(buffer.getvalue())
    return ts_path, onnx_path


def eager_factory(weights, options):
    """A `python` runtime: the same network in eager PyTorch, decoded by the caller's own code."""
    import torch

    from models_registry.inference.base import Decoding, Preprocessing
    from models_registry.inference.tensor_runtime import TensorRuntime

    net = network()

    @torch.inference_mode()
    def forward(batch):
        return [net(torch.from_numpy(batch)).numpy()]

    runtime = TensorRuntime(forward, COCO17, Preprocessing(), Decoding(), batch_size=64)
    return lambda images, boxes: [{"keypoints": p.keypoints, "scores": p.scores, "boxes": p.boxes}
                                  for p in runtime.predict(images, boxes)]


def images_per_second(runtime, batch: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8) for _ in range(batch)]
    boxes = [np.array([[200.0, 60.0, 180.0, 360.0]]) for _ in range(batch)]
    for _ in range(3):  # warm-up: TorchScript's profiling executor optimizes after its first calls
        runtime.predict(images[:1], boxes[:1])
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        runtime.predict(images, boxes)
        best = min(best, time.perf_counter() - start)
    return batch / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    args = parser.parse_args()
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device: {device} ({torch.cuda.get_device_name(0) if device == 'cuda' else os.cpu_count()} "
          f"{'' if device == 'cuda' else 'CPU cores'}), torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        ts_path, onnx_path = export(tmp)
        common = dict(keypoint_names=COCO17, preprocessing=Preprocessing(), decoding=Decoding(), device=device)
        specs = {
            "torchscript": RuntimeSpec("torchscript", weights_path=ts_path, **common),
            "onnx": RuntimeSpec("onnx", weights_path=onnx_path, **common),
            "python": RuntimeSpec("python", callable_path="bench.bench_prelabel.eager_factory", **common),
            "mediapipe (pose)": RuntimeSpec("mediapipe", preset="pose", keypoint_names=COCO17),
        }
        print(f"{'runtime':<18} {'batch 1 img/s':>14} {'batch 64 img/s':>15}")
        for name, spec in specs.items():
            try:
                runtime = build_runtime(spec)
            except Exception as exc:  # e.g. the mediapipe extra not installed
                print(f"{name:<18} skipped: {exc}")
                continue
            one = images_per_second(runtime, 1, args.repeats)
            many = images_per_second(runtime, 64, max(1, args.repeats - 1))
            print(f"{name:<18} {one:>14.1f} {many:>15.1f}")


if __name__ == "__main__":
    main()
