"""Build a runtime from a version's settings, and check an upload before it can be used.

The checks, in order, each with a message for the person who uploaded:
size; format (a TorchScript archive is a zip holding TorchScript code, an
ONNX file parses as an ONNX graph; a Python pickle is refused outright,
because unpickling runs arbitrary code); loading; a dry run on a blank
input; and the output shapes against the declared keypoints and decoding.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .base import Decoding, DryRunReport, ModelLoadError, Preprocessing

MEDIAPIPE, TORCHSCRIPT, ONNX, PYTHON = "mediapipe", "torchscript", "onnx", "python"
RUNTIMES = (MEDIAPIPE, TORCHSCRIPT, ONNX, PYTHON)
_PICKLE_PROTOCOL_BYTE = 0x80


@dataclass(frozen=True)
class RuntimeSpec:
    """Everything needed to build a runtime, independent of the database."""

    runtime: str
    keypoint_names: tuple[str, ...]
    preprocessing: Preprocessing = Preprocessing()
    decoding: Decoding = Decoding()
    weights_path: str | None = None
    callable_path: str = ""
    preset: str = ""
    options: dict = field(default_factory=dict)
    batch_size: int = 64
    device: str | None = None  # None: CUDA when present, else CPU


def sniff_format(path: str, runtime: str) -> None:
    """Refuse a file that is not what its runtime loads, before any loader touches it."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head:
        raise ModelLoadError("The file is empty.")
    if head[0] == _PICKLE_PROTOCOL_BYTE:
        raise ModelLoadError(
            "This file is a Python pickle, not a model export. Pickles are never loaded: unpickling runs "
            "arbitrary code. Export the network with torch.jit.script/trace (TorchScript) or to ONNX."
        )
    if runtime == TORCHSCRIPT:
        if not zipfile.is_zipfile(path):
            raise ModelLoadError("Not a TorchScript archive (a TorchScript file is a zip archive); the file is "
                                 "corrupt or of another format.")
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if not any("/code/" in f"/{name}" for name in names):
            raise ModelLoadError(
                "This zip archive holds no TorchScript code: it looks like a torch.save() checkpoint (a pickle). "
                "Only TorchScript (torch.jit.save) is accepted; pickled checkpoints are never loaded."
            )
    elif runtime == ONNX and zipfile.is_zipfile(path):
        raise ModelLoadError("This is a zip archive, not an ONNX model (maybe a PyTorch file uploaded as ONNX?).")


def build_runtime(spec: RuntimeSpec):
    """The runtime for `spec`; raises ModelLoadError with a readable reason."""
    if spec.runtime == MEDIAPIPE:
        from .mediapipe_runtime import MediapipeRuntime

        return MediapipeRuntime(spec.preset, max_instances=int(spec.options.get("max_instances", 4)))
    if spec.runtime == PYTHON:
        from .python_callable import PythonRuntime, resolve

        weights = None
        if spec.weights_path:
            from .torchscript import load_state_dict

            try:
                weights = load_state_dict(spec.weights_path)
            except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ...
                raise ModelLoadError(f"The weights are not a plain state dict (loaded with weights_only=True): "
                                     f"{_first_line(exc)}") from exc
        factory = resolve(spec.callable_path)
        try:
            predict = factory(weights, dict(spec.options))
        except Exception as exc:  # the site's own code: any failure means "cannot load"
            raise ModelLoadError(f"{spec.callable_path}(weights, options) failed: {_first_line(exc)}",
                                 "callable_path") from exc
        return PythonRuntime(predict, spec.keypoint_names)
    if spec.runtime not in (TORCHSCRIPT, ONNX):
        raise ModelLoadError(f"Unknown runtime '{spec.runtime}'; expected one of {', '.join(RUNTIMES)}.", "runtime")
    if not spec.weights_path or not Path(spec.weights_path).is_file():
        raise ModelLoadError(f"A {spec.runtime} model needs its uploaded file, and there is none.")
    sniff_format(spec.weights_path, spec.runtime)
    from .tensor_runtime import TensorRuntime

    try:
        if spec.runtime == TORCHSCRIPT:
            from .torchscript import load_torchscript

            forward, _ = load_torchscript(spec.weights_path, spec.device)
        else:
            from .onnx import load_onnx

            forward, _ = load_onnx(spec.weights_path, spec.device)
    except ModelLoadError:
        raise
    except Exception as exc:  # each loader has its own exception types; all mean "cannot load"
        raise ModelLoadError(f"The {spec.runtime} file cannot be loaded: {_first_line(exc)}") from exc
    return TensorRuntime(forward, spec.keypoint_names, spec.preprocessing, spec.decoding, spec.batch_size)


def check_model(spec: RuntimeSpec, *, max_bytes: int) -> DryRunReport:
    """Every check an upload must pass; raises ModelLoadError naming the first that fails."""
    if not spec.keypoint_names:
        raise ModelLoadError("Declare the keypoint names the model outputs.", "output_keypoints")
    if spec.weights_path:
        size = Path(spec.weights_path).stat().st_size
        if size > max_bytes:
            raise ModelLoadError(f"The file is {size / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB.")
        if spec.runtime in (TORCHSCRIPT, ONNX):
            sniff_format(spec.weights_path, spec.runtime)
    runtime = build_runtime(spec)
    # What a failing dry run is about: the code for the python runtime, else the file.
    field = "callable_path" if spec.runtime == PYTHON else "weights"
    try:
        report = runtime.dry_run()
    except Exception as exc:
        raise ModelLoadError(f"The dry run on a blank input failed: {_first_line(exc)}", field) from exc
    finally:
        if hasattr(runtime, "close"):
            runtime.close()
    if report.problem:
        raise ModelLoadError(report.problem, field)
    return report


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
