"""Real photographs next to the rendered figures, pre-labeled by the registered MediaPipe model.

Only where the MediaPipe runtime is importable (`.[mediapipe]`): the
photographs scikit-image ships (astronaut, camera; no download) are
registered, BlazePose is registered once as a model version through the
model registry, and a pre-label run (the `gpu` queue's job) labels them.
"""

from __future__ import annotations

import io

from annotation.models import Image, Project
from annotation.services.images import Candidate, register_images
from models_registry.inference.mediapipe_runtime import mediapipe_available
from models_registry.models import ModelVersion, PrelabelRun
from models_registry.services.prelabel import start_prelabel
from models_registry.services.registry import register_model_version

PHOTOS = ("astronaut", "camera")
MODEL = {"name": "blazepose-demo", "version": "0.10.14", "runtime": "mediapipe", "preset": "pose"}


def photo_candidates() -> list[Candidate]:
    from PIL import Image as PILImage
    from skimage import data

    out = []
    for name in PHOTOS:
        buffer = io.BytesIO()
        PILImage.fromarray(getattr(data, name)()).convert("RGB").save(buffer, "JPEG", quality=92)
        out.append(Candidate(file_name=f"{name}.jpg", fileobj=buffer, size=buffer.tell()))
    return out


def available() -> bool:
    try:
        import skimage.data  # noqa: F401
    except ImportError:
        return False
    return mediapipe_available()


def add_photos_and_prelabel(project: Project, user) -> str:
    """Register the photos and the model (once each) and pre-label the project (once). Returns what was done."""
    if not available():
        return "skipped: the MediaPipe runtime or scikit-image is not installed"
    register_images(project, photo_candidates(), partial=True)
    version = ModelVersion.objects.filter(name=MODEL["name"], version=MODEL["version"]).first()
    if version is None:
        version = register_model_version({**MODEL, "skeleton": project.skeleton})
    if project.prelabel_model_id != version.pk:
        Project.objects.filter(pk=project.pk).update(prelabel_model=version)
        project.prelabel_model = version
    if PrelabelRun.objects.filter(project=project, model_version=version).exists():
        return f"already pre-labeled by {version}"
    start_prelabel(version, project, {"boxes": "auto"}, user=user)
    photos = Image.objects.filter(project=project, file_name__in=[f"{n}.jpg" for n in PHOTOS]).count()
    return f"{photos} photographs pre-labeled by {version} (pre-label job on the gpu queue)"
