"""What a model job feeds its runtime: image pixels from storage and the boxes to look in."""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage

from annotation.models import Annotation, Image

Source = Annotation.Source
#: Where boxes of existing labels come from, best first (the order ground truth is trusted in).
BOX_SOURCES = (Source.REVIEW, Source.CONSENSUS, Source.GOLD, Source.IMPORT)


class ImageUnreadable(Exception):
    pass


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
