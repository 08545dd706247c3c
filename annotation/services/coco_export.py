"""Export a project's annotations as a COCO keypoints file, streamed.

What is exported:

- by default, accepted ground truth: images whose status is `accepted`, each
  with its `review` annotation when there is one, else its `consensus`;
- or any one source on request (`import`, `gold`, `consensus`, `review`,
  `model`, `annotator`), optionally narrowed to one annotator or one model.

The file is produced as a sequence of byte chunks (`coco_chunks`): the
images list (small: id, name, size per image) is read first, then
annotations are read in chunks through a server-side cursor and written as
they come, so memory stays flat however large the project is. Each row's
`instances` is fetched as text and parsed by orjson, which is several times
faster than Django's JSONField decoding.

Ids: image ids are the ids of the imported COCO file when every exported
image has one and they are unique (a round trip keeps them), else Jointly's
image ids. Annotation ids are 1..N in file order, unique across the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterator

import orjson
from django.core.exceptions import ValidationError
from django.db.models import Case, Exists, OuterRef, TextField, Value, When
from django.db.models.functions import Cast

from ..models import Annotation, Image, Project
from .skeletons import to_coco_category

Source = Annotation.Source
ACCEPTED = "accepted"  # the default selection: accepted images, review else consensus
CHUNK = 2000


@dataclass(frozen=True)
class ExportSelection:
    source: str = ACCEPTED
    annotator_id: int | None = None
    pose_model_id: int | None = None


def selection_from_params(params) -> ExportSelection:
    """Build a selection from query parameters, naming the parameter at fault."""
    source = params.get("source") or ACCEPTED
    if source not in (ACCEPTED, *Source.values):
        raise ValidationError({"source": f"Unknown source '{source}'; expected {ACCEPTED} or one of {', '.join(Source.values)}."})

    def int_param(name):
        value = params.get(name)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValidationError({name: f"Expected an integer id, got {value!r}."}) from None

    annotator, model = int_param("annotator"), int_param("model")
    if annotator is not None and source != Source.ANNOTATOR:
        raise ValidationError({"annotator": "annotator= only applies with source=annotator."})
    if model is not None and source != Source.MODEL:
        raise ValidationError({"model": "model= only applies with source=model."})
    return ExportSelection(source, annotator, model)


def _annotations(project: Project, selection: ExportSelection):
    queryset = Annotation.objects.filter(image__project=project)
    if selection.source == ACCEPTED:
        return queryset.filter(image__status=Image.Status.ACCEPTED, source__in=[Source.REVIEW, Source.CONSENSUS])
    queryset = queryset.filter(source=selection.source)
    if selection.annotator_id is not None:
        queryset = queryset.filter(annotator_id=selection.annotator_id)
    if selection.pose_model_id is not None:
        queryset = queryset.filter(pose_model_id=selection.pose_model_id)
    return queryset


def exported_images(project: Project, selection: ExportSelection) -> list[tuple]:
    """(id, file_name, width, height, coco_id) of every image that has an exported annotation, by id."""
    has_annotation = _annotations(project, selection).filter(image=OuterRef("pk"))
    return list(
        Image.objects.filter(project=project).filter(Exists(has_annotation)).order_by("id")
        .values_list("id", "file_name", "width", "height", "coco_id")
    )


def _annotation_rows(project: Project, selection: ExportSelection) -> Iterator[tuple[int, int | None, str]]:
    """(image_id, annotator_id, instances as JSON text), by image; one query through a server-side cursor."""
    return (
        _annotations(project, selection)
        .annotate(
            instances_text=Cast("instances", TextField()),
            # Accepted ground truth: the review annotation first, so it wins over consensus.
            rank=Case(When(source=Source.REVIEW, then=Value(0)), default=Value(1)),
        )
        .order_by("image_id", "rank", "id")
        .values_list("image_id", "annotator_id", "instances_text")
        .iterator(chunk_size=CHUNK)
    )


def coco_chunks(
    project: Project, selection: ExportSelection = ExportSelection(),
    progress: Callable[..., None] | None = None,
) -> Iterator[bytes]:
    """The COCO file as byte chunks, ready for a StreamingHttpResponse or a file."""
    category = to_coco_category(project.skeleton)
    images = exported_images(project, selection)
    coco_ids = [row[4] for row in images]
    use_coco_ids = bool(images) and None not in coco_ids and len(set(coco_ids)) == len(coco_ids)
    out_id = {row[0]: (row[4] if use_coco_ids else row[0]) for row in images}
    header = {
        "info": {
            "description": f"{project.name}: {_describe(selection)}",
            "version": "1.0", "year": datetime.now(timezone.utc).year,
            "date_created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "contributor": "Jointly",
        },
        "licenses": [],
        "categories": [category],
    }
    yield orjson.dumps(header)[:-1] + b',"images":['
    for start in range(0, len(images), CHUNK):
        part = [
            {"id": out_id[pk], "file_name": name, "width": w, "height": h}
            for pk, name, w, h, _ in images[start:start + CHUNK]
        ]
        yield (b"," if start else b"") + orjson.dumps(part)[1:-1]
    yield b'],"annotations":['
    category_id = category["id"]
    next_id, last_image, first = 1, None, True
    buffer: list[bytes] = []
    for done, (image_id, annotator_id, text) in enumerate(_annotation_rows(project, selection), 1):
        if selection.source == ACCEPTED and image_id == last_image:
            continue  # review already written for this image; its consensus is not ground truth
        last_image = image_id
        records = []
        for instance in orjson.loads(text):
            record = coco_annotation(instance, next_id, out_id[image_id], category_id)
            if annotator_id is not None:
                record["annotator_id"] = annotator_id
            records.append(record)
            next_id += 1
        if records:
            buffer.append(orjson.dumps(records)[1:-1])
        if len(buffer) >= 500:
            yield (b"" if first else b",") + b",".join(buffer)
            first, buffer = False, []
            if progress:
                progress(done, len(images), f"{next_id - 1} annotations written")
    if buffer:
        yield (b"" if first else b",") + b",".join(buffer)
    yield b"]}"


def coco_annotation(instance: dict, annotation_id: int, image_id: int, category_id: int) -> dict:
    keypoints = instance["keypoints"]
    x, y, w, h = instance["bbox"]
    area = instance.get("area")
    record = {
        "id": annotation_id, "image_id": image_id, "category_id": category_id,
        "bbox": [x, y, w, h], "area": float(w * h) if area is None else area, "iscrowd": 0,
        "keypoints": keypoints, "num_keypoints": sum(1 for v in keypoints[2::3] if v > 0),
    }
    if "score" in instance:
        record["score"] = instance["score"]
    return record


def _describe(selection: ExportSelection) -> str:
    if selection.source == ACCEPTED:
        return "accepted ground truth (review, else consensus)"
    who = f" of annotator {selection.annotator_id}" if selection.annotator_id else ""
    who += f" of model {selection.pose_model_id}" if selection.pose_model_id else ""
    return f"'{selection.source}' annotations{who}"


def write_coco(project: Project, path, selection: ExportSelection = ExportSelection(), progress=None) -> int:
    """Write the export to a file; returns its size in bytes."""
    size = 0
    with open(path, "wb") as handle:
        for chunk in coco_chunks(project, selection, progress):
            handle.write(chunk)
            size += len(chunk)
    return size
