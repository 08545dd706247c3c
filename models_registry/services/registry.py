"""Register a model version: validate its settings, check its file, and only then store it.

Nothing is written for a version that fails a check: the upload is checked
from a temporary file, and the row and the stored file are written in one
transaction after every check passed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from typing import Iterator

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from annotation.models import Skeleton

from ..inference.base import ModelLoadError
from ..inference.loading import check_model
from ..inference.mediapipe_presets import PRESETS
from ..models import ModelVersion

Runtime = ModelVersion.Runtime
_CHUNK = 1 << 20


def max_upload_bytes() -> int:
    return int(getattr(settings, "MODEL_MAX_UPLOAD_BYTES", 2 * 1024**3))


def default_mapping(skeleton_names, output_names) -> dict[str, str]:
    """Skeleton keypoints take the model output of the same name."""
    outputs = set(output_names)
    return {name: name for name in skeleton_names if name in outputs}


def _settings_errors(fields: dict, skeleton: Skeleton) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    runtime = fields["runtime"]
    outputs = fields.get("output_keypoints") or []
    if len(set(outputs)) != len(outputs):
        errors["output_keypoints"] = ["Output keypoint names must be unique."]
    skeleton_names = set(skeleton.keypoints.values_list("name", flat=True))
    mapping = fields.get("keypoint_mapping") or {}
    bad_keys = sorted(set(mapping) - skeleton_names)
    bad_values = sorted(set(mapping.values()) - set(outputs))
    if bad_keys:
        errors.setdefault("keypoint_mapping", []).append(
            f"Not keypoints of skeleton '{skeleton}': {', '.join(bad_keys)}.")
    if bad_values:
        errors.setdefault("keypoint_mapping", []).append(f"Not among the output keypoints: {', '.join(bad_values)}.")
    if not mapping and outputs and not default_mapping(skeleton_names, outputs):
        errors.setdefault("keypoint_mapping", []).append(
            "No output keypoint has the name of a skeleton keypoint; give the mapping.")
    for channel_field in ("mean", "std"):
        values = fields.get(channel_field) or []
        if values and (len(values) != 3 or not all(isinstance(v, (int, float)) for v in values)):
            errors[channel_field] = ["Give three numbers (one per channel, 0..255 units), or leave it empty."]
    if fields.get("std") and any(v <= 0 for v in fields["std"]):
        errors["std"] = ["Every std must be positive."]
    if runtime == Runtime.MEDIAPIPE and fields.get("preset") not in PRESETS:
        errors["preset"] = [f"Choose one of {', '.join(PRESETS)}."]
    options = fields.get("options") or {}
    if runtime == Runtime.MEDIAPIPE and (
        set(options) - {"max_instances"}
        or not isinstance(options.get("max_instances", 4), int) or not 1 <= options.get("max_instances", 4) <= 50
    ):
        errors["options"] = ["MediaPipe takes one option, max_instances: an integer from 1 to 50."]
    if runtime == Runtime.PYTHON and not fields.get("callable_path"):
        errors["callable_path"] = ["The python runtime needs the dotted path of its factory."]
    if runtime in (Runtime.TORCHSCRIPT, Runtime.ONNX) and fields.get("weights") is None:
        errors["weights"] = [f"Upload the {runtime} file."]
    if runtime == Runtime.MEDIAPIPE and fields.get("weights") is not None:
        errors["weights"] = ["MediaPipe presets run the models inside the mediapipe package; upload nothing."]
    return errors


@contextmanager
def _spooled(upload) -> Iterator[tuple[str | None, str, int]]:
    """The upload in a temporary file: (path, sha256, size); refuses it past the size limit while reading."""
    if upload is None:
        yield None, "", 0
        return
    limit = max_upload_bytes()
    digest, size = hashlib.sha256(), 0
    fd, path = tempfile.mkstemp(prefix="jointly-model-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in upload.chunks(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ValidationError({"weights": [f"The file is over the {limit / 2**20:.0f} MiB limit."]})
                digest.update(chunk)
                out.write(chunk)
        yield path, digest.hexdigest(), size
    finally:
        os.unlink(path)


def register_model_version(fields: dict, *, upload=None, created_by=None) -> ModelVersion:
    """Check and store a new version. `fields` are ModelVersion field values (skeleton a Skeleton).

    Raises ValidationError naming the field at fault; nothing is stored then.
    """
    fields = dict(fields)
    skeleton = fields["skeleton"]
    if fields["runtime"] == Runtime.MEDIAPIPE:
        fields["output_keypoints"] = list(PRESETS.get(fields.get("preset"), ((),))[0])
    fields["weights"] = upload
    errors = _settings_errors(fields, skeleton)
    if ModelVersion.objects.filter(name=fields["name"], version=fields.get("version", "1")).exists():
        errors["version"] = [f"'{fields['name']}' already has a version '{fields.get('version', '1')}'."]
    if errors:
        raise ValidationError(errors)
    fields.pop("weights")
    if not fields.get("keypoint_mapping"):
        fields["keypoint_mapping"] = default_mapping(skeleton.keypoints.values_list("name", flat=True),
                                                     fields["output_keypoints"])
    version = ModelVersion(**fields, created_by=created_by if getattr(created_by, "is_authenticated", False) else None)
    with _spooled(upload) as (path, sha256, size):
        try:
            report = check_model(version.runtime_spec(weights_path=path, batch_size=1, device="cpu"),
                                 max_bytes=max_upload_bytes())
        except ModelLoadError as exc:
            raise ValidationError({exc.field: [str(exc)]}) from exc
        version.sha256, version.file_size = sha256, size
        version.check_report = {"output_shapes": [list(s) for s in report.output_shapes], "device": "cpu"}
        version.checked_at = timezone.now()
        try:
            with transaction.atomic():
                if path:
                    with open(path, "rb") as fh:
                        version.weights.save(f"{sha256}.bin", File(fh), save=False)
                version.save()
        except Exception:
            if version.weights:  # the row was not stored: neither is its file
                version.weights.delete(save=False)
            raise
    return version


@contextmanager
def local_weights(version: ModelVersion) -> Iterator[str | None]:
    """A local path to the version's file: the stored file itself, or a temporary copy (S3 and such)."""
    if not version.weights:
        yield None
        return
    try:
        stored_path = version.weights.path
    except NotImplementedError:  # remote storage: no local path
        stored_path = None
    if stored_path:
        yield stored_path
        return
    fd, path = tempfile.mkstemp(prefix="jointly-model-")
    try:
        with os.fdopen(fd, "wb") as out, version.weights.open("rb") as src:
            for chunk in iter(lambda: src.read(_CHUNK), b""):
                out.write(chunk)
        yield path
    finally:
        os.unlink(path)
