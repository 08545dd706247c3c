"""Running a model version over a project's images: pixels from storage, boxes, batches, and failures
explained for a person. Shared by the pre-label and evaluation jobs."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
from PIL import Image as PILImage

from annotation.models import Annotation, Image

from ..inference.base import ModelLoadError, Prediction
from ..inference.loading import build_runtime
from ..models import ModelVersion
from .registry import local_weights

Source = Annotation.Source
#: Where boxes of existing labels come from, best first (the order ground truth is trusted in).
BOX_SOURCES = (Source.REVIEW, Source.CONSENSUS, Source.GOLD, Source.IMPORT)


class ImageUnreadable(Exception):
    pass


class ModelJobFailed(Exception):
    """A model job cannot finish; the message says why, for a person. Nothing was written."""


def read_rgb(image: Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB pixels of a stored image; ImageUnreadable naming the file otherwise."""
    try:
        with image.file.open("rb") as fh, PILImage.open(fh) as pil:
            return np.asarray(pil.convert("RGB"))
    except (OSError, ValueError, PILImage.DecompressionBombError) as exc:
        raise ImageUnreadable(f"Image {image.pk} ({image.file_name}) cannot be read: {exc}") from exc


def boxes_of_labels(image_ids: list[int], sources=BOX_SOURCES) -> dict[int, np.ndarray]:
    """image id -> (N, 4) boxes of its best-trusted existing labels, for images that have any (one query)."""
    rank = {source: i for i, source in enumerate(sources)}
    best: dict[int, tuple[int, list]] = {}
    rows = Annotation.objects.filter(image_id__in=image_ids, source__in=sources).values_list(
        "image_id", "source", "instances")
    for image_id, source, instances in rows:
        boxes = [inst["bbox"] for inst in instances if isinstance(inst, dict) and inst.get("bbox")]
        if boxes and (image_id not in best or rank[source] < best[image_id][0]):
            best[image_id] = (rank[source], boxes)
    return {image_id: np.asarray(boxes, dtype=np.float64).reshape(-1, 4) for image_id, (_, boxes) in best.items()}


def predict_batches(
    version: ModelVersion, images: list[Image], boxes_for_batch: Callable[[list[Image]], list | None], *,
    batch_size: int, progress, before_batch: Callable[[int], None] | None = None,
) -> Iterator[tuple[Image, Prediction]]:
    """(image, Prediction) for every image, the model loaded once and run `batch_size` images at a time."""
    with local_weights(version) as path:
        runtime = build_runtime(version.runtime_spec(weights_path=path, batch_size=batch_size))
        try:
            for start in range(0, len(images), batch_size):
                if before_batch is not None:
                    before_batch(start)
                batch = images[start:start + batch_size]
                yield from zip(batch, runtime.predict([read_rgb(im) for im in batch], boxes_for_batch(batch)))
                progress(start + len(batch), len(images), f"{start + len(batch)} of {len(images)} images")
        finally:
            if hasattr(runtime, "close"):
                runtime.close()


@contextmanager
def explained_failures(batch_size: int) -> Iterator[None]:
    """Turn what can go wrong while running a model into ModelJobFailed with a reason a person can act on."""
    try:
        yield
    except (ModelLoadError, ImageUnreadable) as exc:
        raise ModelJobFailed(str(exc)) from exc
    except ValueError as exc:  # the runtimes' output-shape checks
        raise ModelJobFailed(f"The model's output does not fit its declaration: {exc}") from exc
    except MemoryError as exc:
        raise ModelJobFailed(f"Out of memory at batch size {batch_size}; run again with a smaller batch_size.") from exc
    except RuntimeError as exc:
        first_line = (str(exc).strip().splitlines() or [repr(exc)])[0]
        if "out of memory" in first_line.lower():
            raise ModelJobFailed(f"The device ran out of memory at batch size {batch_size}; "
                                 "run again with a smaller batch_size.") from exc
        raise ModelJobFailed(f"The model failed: {first_line}") from exc
