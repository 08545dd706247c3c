"""2. Plan: every check of the file against the project, vectorized; nothing is written."""

from __future__ import annotations

import difflib
import re
from itertools import chain
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, NamedTuple

import numpy as np
from django.core.files.storage import default_storage

from ...models import Annotation, Image, Project
from ..images import sanitized_file_name
from ..instances import array_errors
from .errors import MAX_MESSAGES, CocoImportFailed, ErrorLog

IMPORT_SOURCES = (Annotation.Source.IMPORT, Annotation.Source.GOLD)
#: Storage folders Jointly writes itself (uploads, COCO files, model weights, instruction images).
RESERVED_STORAGE_FOLDERS = ("projects", "coco_imports", "models", "instructions")
_LABEL_STUDIO_PREFIX = re.compile(r"^[0-9a-f]{8}-(.+)$")

Progress = Callable[..., None]


def no_progress(done, total=None, message=""):
    pass


@dataclass
class ImportOptions:
    source: str = Annotation.Source.IMPORT
    create_missing_images: bool = False
    image_root: str = ""  # storage-relative folder that new image records point into
    category_id: int | None = None


class NewImage(NamedTuple):
    """An image record to create; plain data, since 60,000 model instances cost seconds."""

    file_name: str
    width: int
    height: int
    coco_id: int
    file: str  # storage name, or "" when the file is not known yet


@dataclass
class ImportPlan:
    """Everything the write phase needs, all of it already validated."""

    project: Project
    source: str
    image_ids: list[int | None]  # per COCO image: the project image, or None when it is to be created
    new_images: dict[int, NewImage]  # COCO image index -> the record to create
    coco_ids: list[int]
    instances_per_image: list[list[dict]]
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)


#: Ids are stored as PostgreSQL bigints; image sides far past any camera are a mistake.
_MAX_ID = 2**63 - 1
MAX_IMAGE_SIDE = 1_000_000


def _is_int(value) -> bool:
    """An integer id: a JSON `true` is not one, nor anything a bigint cannot hold."""
    return type(value) is int and -_MAX_ID <= value <= _MAX_ID


def _is_number(value) -> bool:
    """A JSON number a float holds (`true` is not one; NaN is reported by the range checks)."""
    return type(value) in (int, float) and not abs(value) >= 1e300


def _choose_category(categories: list, project: Project, options: ImportOptions, log: ErrorLog) -> dict | None:
    with_keypoints = [
        c for c in categories if isinstance(c, dict) and isinstance(c.get("keypoints"), list) and c["keypoints"]
    ]
    described = ", ".join(f"{c.get('id')} '{c.get('name')}'" for c in with_keypoints) or "none"
    if options.category_id is not None:
        chosen = next((c for c in categories if isinstance(c, dict) and c.get("id") == options.category_id), None)
        if chosen is None:
            log.add("categories", "category_unknown",
                    f"category_id {options.category_id} is not in the file (categories with keypoints: {described}).")
        elif chosen not in with_keypoints:
            log.add("categories", "category_without_keypoints",
                    f"Category {options.category_id} '{chosen.get('name')}' has no keypoints.")
            chosen = None
        return chosen
    if not with_keypoints:
        log.add("categories", "no_keypoint_category", "The file has no category with keypoints.")
        return None
    if len(with_keypoints) == 1:
        return with_keypoints[0]
    for wanted in (project.skeleton.name, "person"):
        named = [c for c in with_keypoints if c.get("name") == wanted]
        if len(named) == 1:
            return named[0]
    log.add("categories", "category_ambiguous",
            f"The file has several categories with keypoints ({described}); choose one with category_id.")
    return None


def _keypoint_order(category: dict, names: tuple[str, ...], log: ErrorLog) -> list[int] | None:
    """Column order that puts the category's keypoints in skeleton order, or None (errors logged)."""
    theirs = category["keypoints"]
    label = f"Category {category.get('id')} '{category.get('name')}'"
    if not all(isinstance(n, str) for n in theirs):
        log.add("keypoints", "keypoint_name_invalid", f"{label}: keypoint names must be strings.")
        return None
    doubled = sorted({n for n in theirs if theirs.count(n) > 1})
    if doubled:
        log.add("keypoints", "keypoint_name_duplicate", f"{label} lists keypoint(s) twice: {', '.join(doubled)}.")
    unknown = [n for n in theirs if n not in names]
    missing = [n for n in names if n not in theirs]
    if unknown:
        hints = []
        for n in unknown:
            close = difflib.get_close_matches(n, missing or names, n=1)
            hints.append(f"'{n}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        log.add("keypoints", "keypoint_name_unknown", f"{label} has keypoint(s) the project skeleton does not: "
                f"{', '.join(hints)}. Skeleton keypoints: {', '.join(names)}.", len(unknown))
    if missing:
        log.add("keypoints", "keypoint_name_missing",
                f"Skeleton keypoint(s) missing from {label}: {', '.join(missing)}.", len(missing))
    if doubled or unknown or missing:
        return None
    return [theirs.index(n) for n in names]


class _ProjectImageIndex:
    """The project's images by file name and by base name, for matching a COCO file's names."""

    def __init__(self, project: Project):
        self.by_name: dict[str, list[tuple]] = {}
        self.by_base: dict[str, list[tuple]] = {}
        for row in Image.objects.filter(project=project).values_list("id", "file_name", "width", "height"):
            self.by_name.setdefault(row[1], []).append(row)
            self.by_base.setdefault(row[1].rsplit("/", 1)[-1], []).append(row)

    def match(self, file_name: str) -> tuple[list[tuple], str]:
        """Candidate rows and how they were found ('exact', 'base name', 'upload prefix' or '')."""
        normalized = file_name.replace("\\", "/")
        for name in (file_name, normalized, normalized.removeprefix("./")):
            if name in self.by_name:
                return self.by_name[name], "exact"
        base = normalized.rsplit("/", 1)[-1]
        if base in self.by_base:
            return self.by_base[base], "base name"
        stripped = _LABEL_STUDIO_PREFIX.match(base)
        if stripped and stripped.group(1) in self.by_base:
            return self.by_base[stripped.group(1)], "upload prefix"
        return [], ""


def _storage_name_in(root: str, file_name: str) -> str:
    return str(PurePosixPath(root) / sanitized_file_name(file_name, keep_folders=True))


def _check_image_root(root: str, log: ErrorLog) -> str:
    # Compare folders, not spellings: "./projects" and "projects/" are one folder, and the
    # storage root itself (".") would reach every reserved folder below it.
    parts = [part for part in root.replace("\\", "/").split("/") if part not in ("", ".")]
    cleaned = "/".join(parts)
    if root.replace("\\", "/").startswith("/") or ".." in parts or not parts:
        log.add("images", "image_root_invalid",
                "image_root must be a folder inside the media storage, relative (no leading '/', no '..').")
        return ""
    if parts[0] in RESERVED_STORAGE_FOLDERS:
        # Other projects' uploads live there: a record must not be pointed at them.
        log.add("images", "image_root_invalid",
                f"image_root cannot be inside Jointly's own upload folders ({', '.join(RESERVED_STORAGE_FOLDERS)}).")
        return ""
    local = _local_path(cleaned)
    if local is not None and not local.is_dir():
        log.add("images", "image_root_missing", f"image_root '{cleaned}' is not a folder in the media storage.")
    return cleaned


def _local_path(name: str):
    try:
        return Path(default_storage.path(name))
    except NotImplementedError:  # remote storage (S3): existence is not checked file by file
        return None


def _check_images(coco_images: list, project: Project, options: ImportOptions, log: ErrorLog, warnings: list[str]):
    index = _ProjectImageIndex(project)
    image_root = _check_image_root(options.image_root, log) if options.image_root else ""
    n = len(coco_images)
    positions: dict[int, int] = {}
    image_ids: list[int | None] = [None] * n
    coco_ids = [0] * n
    widths, heights = np.zeros(n), np.zeros(n)
    new_images: dict[int, NewImage] = {}
    claimed: dict[int, str] = {}
    missing: list[str] = []
    how_matched: dict[str, int] = {}
    sizes_taken = 0
    for i, entry in enumerate(coco_images):
        if not isinstance(entry, dict):
            log.add("images", "image_invalid", f"images[{i}] is not an object.")
            continue
        cid, name, w, h = entry.get("id"), entry.get("file_name"), entry.get("width"), entry.get("height")
        where = f"image {cid!r}" if cid is not None else f"images[{i}]"
        problems = []
        if not _is_int(cid):
            problems.append("id must be an integer")
        if not isinstance(name, str) or not name.strip():
            problems.append("file_name must be a non-empty string")
        sizeless = w is None and h is None  # some exporters leave sizes out; the project image has them
        if not sizeless and not (
            _is_number(w) and _is_number(h) and 0 < w <= MAX_IMAGE_SIDE and 0 < h <= MAX_IMAGE_SIDE
            and float(w).is_integer() and float(h).is_integer()
        ):
            problems.append(f"width and height must be integers from 1 to {MAX_IMAGE_SIDE}, got {w!r} x {h!r}")
        if problems:
            log.add("images", "image_invalid", f"{where}: {'; '.join(problems)}.")
            continue
        if cid in positions:
            log.add("images", "image_id_duplicate", f"image id {cid} is used twice (images[{positions[cid]}] and images[{i}]).")
            continue
        positions[cid] = i
        rows, how = index.match(name)
        if sizeless:
            if len(rows) != 1:
                log.add("images", "image_invalid", f"image {cid} '{name}': width and height are missing.")
                continue
            w, h = rows[0][2], rows[0][3]
            sizes_taken += 1
        coco_ids[i], widths[i], heights[i] = cid, w, h
        if len(rows) > 1:
            log.add("images", "image_ambiguous",
                    f"image {cid} '{name}' matches {len(rows)} project images by {how} "
                    f"({', '.join(f'{r[0]} {r[1]!r}' for r in rows[:5])}); rename one or use unique file names.")
            continue
        if rows:
            pk, project_name, pw, ph = rows[0]
            if pk in claimed:
                log.add("images", "image_matched_twice",
                        f"image {cid} '{name}' and image {claimed[pk]} both match project image {pk} '{project_name}'.")
                continue
            claimed[pk] = f"{cid} '{name}'"
            if (pw, ph) != (int(w), int(h)):
                log.add("images", "image_size_mismatch",
                        f"image {cid} '{name}': the file says {int(w)}x{int(h)}, "
                        f"project image {pk} is {pw}x{ph}; keypoints would land in the wrong place.")
                continue
            image_ids[i] = pk
            how_matched[how] = how_matched.get(how, 0) + 1
            continue
        if not options.create_missing_images:
            missing.append(name)
            continue
        storage_name = _storage_name_in(image_root, name) if image_root else ""
        if storage_name:
            local = _local_path(storage_name)
            if local is not None and not local.is_file():
                log.add("images", "image_file_missing", f"image {cid} '{name}': no file at '{storage_name}' in the media storage.")
                continue
        new_images[i] = NewImage(sanitized_file_name(name, keep_folders=True), int(w), int(h), cid, storage_name)
    if missing:
        shown = ", ".join(repr(m) for m in missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        log.add("images", "image_missing",
                f"{len(missing)} image(s) of the file are not in the project: {shown}. Upload them first, "
                "or import with create_missing_images (and image_root to point at their files).", len(missing))
    if sizes_taken:
        warnings.append(f"{sizes_taken} image(s) had no width/height; the project image's size was used.")
    for how, count in how_matched.items():
        if how != "exact":
            warnings.append(f"{count} image(s) matched by {how} (the file's names carry folders or prefixes).")
    if new_images and not image_root:
        warnings.append(f"{len(new_images)} image record(s) created without a file (sizes taken from the COCO file); "
                        "upload or register their files to annotate them.")
    return positions, image_ids, coco_ids, widths, heights, new_images


def _float_array(rows: list[list], width: int) -> tuple[np.ndarray, np.ndarray]:
    """(len(rows), width) float array and a mask of rows whose entries were all numbers."""
    try:
        # No dtype: numpy would turn the string "12" into 12.0; a string must stay an error.
        array = np.array(rows)
        # numpy reads `true` as 1; one pass over the element types (in C) keeps JSON booleans out.
        if (array.dtype.kind in "iuf" and array.shape == (len(rows), width)
                and bool not in set(map(type, chain.from_iterable(rows)))):
            return array.astype(np.float64, copy=False), np.ones(len(rows), dtype=bool)
    except (TypeError, ValueError):
        pass
    ok = np.array([all(type(x) in (int, float) and not abs(x) >= 1e300 for x in row) for row in rows], dtype=bool)
    array = np.full((len(rows), width), np.nan)
    good = np.flatnonzero(ok)
    if len(good):
        array[good] = np.array([rows[i] for i in good], dtype=np.float64)
    return array, ok


@dataclass
class _Collected:
    """The chosen category's annotations, as parallel lists (one entry per instance kept)."""

    ids: list[int] = field(default_factory=list)
    image_positions: list[int] = field(default_factory=list)
    keypoints: list[list] = field(default_factory=list)
    boxes: list[list] = field(default_factory=list)
    areas: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    box_given: list[bool] = field(default_factory=list)
    area_given: list[bool] = field(default_factory=list)
    score_given: list[bool] = field(default_factory=list)
    other_categories: int = 0
    crowd: int = 0


def _collect_annotations(annotations: list, category_id, kc: int, positions: dict, log: ErrorLog) -> _Collected:
    """One pass over the file's annotations: structural checks per annotation, values gathered for numpy."""
    out = _Collected()
    for j, ann in enumerate(annotations):
        if type(ann) is not dict:
            log.add("annotations", "annotation_invalid", f"annotations[{j}] is not an object.")
            continue
        if ann.get("category_id") != category_id:
            out.other_categories += 1
            continue
        aid = ann.get("id")
        label = f"annotation {aid}" if aid is not None else f"annotations[{j}]"
        if not _is_int(aid):
            log.add("annotations", "annotation_id_invalid", f"{label}: id must be an integer.")
            continue
        image_id = ann.get("image_id")
        pos = positions.get(image_id) if _is_int(image_id) else None  # `true` would find image 1
        if pos is None:
            log.add("annotations", "annotation_image_unknown",
                    f"{label}: image_id {ann.get('image_id')!r} is not in the file's valid images.")
            continue
        if ann.get("iscrowd") in (1, True):
            out.crowd += 1
            continue
        kps = ann.get("keypoints")
        if type(kps) is not list or len(kps) != 3 * kc:
            got = f"{len(kps) // 3} ({len(kps)} numbers)" if type(kps) is list else "none"
            log.add("annotations", "keypoint_count",
                    f"{label}: expected {kc} keypoints ({3 * kc} numbers) as the category lists, got {got}.")
            continue
        bbox = ann.get("bbox")
        if bbox is not None and (type(bbox) is not list or len(bbox) != 4):
            log.add("annotations", "bbox_invalid", f"{label}: bbox must be [x, y, width, height], got {bbox!r}.")
            continue
        area, score = ann.get("area"), ann.get("score")
        if (area is not None and not _is_number(area)) or (score is not None and not _is_number(score)):
            log.add("annotations", "number_invalid", f"{label}: area and score must be numbers.")
            continue
        out.ids.append(aid)
        out.image_positions.append(pos)
        out.keypoints.append(kps)
        out.boxes.append(bbox if bbox is not None else [np.nan] * 4)
        out.areas.append(np.nan if area is None else area)
        out.scores.append(np.nan if score is None else score)
        out.box_given.append(bbox is not None)
        out.area_given.append(area is not None)
        out.score_given.append(score is not None)
    return out


def _check_instances(
    found: _Collected, order: list[int], kc: int, widths: np.ndarray, heights: np.ndarray, spec,
    log: ErrorLog, warnings: list[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorized checks and normalizations; returns keypoints (N, K, 3) in skeleton order, boxes, areas, scores."""
    n = len(found.ids)
    ids = np.asarray(found.ids, dtype=np.int64)
    kp_flat, kp_ok = _float_array(found.keypoints, 3 * kc)
    box, box_ok = _float_array(found.boxes, 4)
    found.keypoints = found.boxes = []  # the arrays hold them now: let the parsed lists go
    for bad in np.flatnonzero(~(kp_ok & box_ok))[:MAX_MESSAGES]:
        log.add("annotations", "not_a_number", f"annotation {ids[bad]}: keypoints and bbox must hold only numbers.")
    kp = kp_flat.reshape(n, kc, 3)[:, order, :]
    x, y, v = kp[..., 0], kp[..., 1], kp[..., 2]  # views: writing them writes kp
    # CVAT keeps the last position of a point marked absent: COCO ignores x, y when v=0.
    stray = (v == 0) & np.isfinite(x) & np.isfinite(y) & ((x != 0) | (y != 0))
    if stray.any():
        x[stray] = 0.0
        y[stray] = 0.0
        warnings.append(f"{int(stray.sum())} keypoint(s) with v=0 had non-zero x, y "
                        f"(in {int(stray.any(axis=1).sum())} annotation(s)); set to 0, 0 as COCO reads them.")
    no_box = ~np.asarray(found.box_given)
    if no_box.any():
        labeled = (v > 0) & np.isfinite(x) & np.isfinite(y)
        x0 = np.where(labeled, x, np.inf).min(axis=1)
        y0 = np.where(labeled, y, np.inf).min(axis=1)
        x1 = np.where(labeled, x, -np.inf).max(axis=1)
        y1 = np.where(labeled, y, -np.inf).max(axis=1)
        empty = no_box & ~labeled.any(axis=1)
        for bad in np.flatnonzero(empty)[:MAX_MESSAGES]:
            log.add("annotations", "bbox_missing",
                    f"annotation {ids[bad]}: no bbox and no labeled keypoint to derive one from.")
        derive = no_box & ~empty
        box[derive] = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)[derive]
        if derive.any():
            warnings.append(f"{int(derive.sum())} annotation(s) had no bbox; derived from their keypoints' extent.")
    areas = np.asarray(found.areas, dtype=np.float64)
    area_given = np.asarray(found.area_given)
    for bad in np.flatnonzero(area_given & (~np.isfinite(areas) | (areas < 0)))[:MAX_MESSAGES]:
        log.add("annotations", "area_invalid", f"annotation {ids[bad]}: area must be a finite non-negative number.")
    areas = np.where(area_given, areas, box[:, 2] * box[:, 3])  # COCO's own fallback: the box area
    scores = np.asarray(found.scores, dtype=np.float64)
    for bad in np.flatnonzero(np.asarray(found.score_given) & ~np.isfinite(scores))[:MAX_MESSAGES]:
        log.add("annotations", "score_invalid", f"annotation {ids[bad]}: score must be a finite number.")
    positions = np.asarray(found.image_positions)
    checked = kp_ok & box_ok
    kinds: dict[str, int] = {}
    messages = array_errors(
        kp[checked], box[checked], spec, widths[positions[checked]], heights[positions[checked]],
        instance_ids=ids[checked], limit=log.remaining, label="annotation", counts=kinds,
    )
    log.extend("annotations", messages, kinds)
    return kp, box, areas, scores


def _group_instances(found: _Collected, n_images: int, kp, box, areas, scores) -> list[list[dict]]:
    """Instance dicts (canonical form: float coordinates, int visibility) per COCO image, in file order."""
    per_image: list[list[dict]] = [[] for _ in range(n_images)]
    n = len(found.ids)
    if not n:
        return per_image
    # tolist() converts in C; the Python loop only assembles the dicts.
    keypoint_lists = kp.reshape(n, -1).tolist()
    visibilities = kp[..., 2].astype(np.int64).tolist()
    boxes, area_list, score_list = box.tolist(), areas.tolist(), scores.tolist()
    for i in range(n):
        row = keypoint_lists[i]
        row[2::3] = visibilities[i]
        instance = {"bbox": boxes[i], "keypoints": row, "area": area_list[i]}
        if found.score_given[i]:
            instance["score"] = score_list[i]
        per_image[found.image_positions[i]].append(instance)
    return per_image


def plan_coco_import(project: Project, data: dict, options: ImportOptions, progress: Progress = no_progress) -> ImportPlan:
    """Check the whole file against the project; return what to write, or raise CocoImportFailed.

    `data["annotations"]` is emptied once read, to keep the peak memory of a
    large import near one copy of its instances.
    """
    log, warnings = ErrorLog(), []
    if options.source not in IMPORT_SOURCES:
        log.add("options", "source_invalid", f"source must be one of {', '.join(IMPORT_SOURCES)}, got {options.source!r}.")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            log.add("file", "bad_structure", f"'{key}' must be a list; the file has {type(data.get(key)).__name__}.")
    if log:
        raise log.fail(warnings)
    spec = project.skeleton.spec()
    category = _choose_category(data["categories"], project, options, log)
    order = _keypoint_order(category, spec.names, log) if category else None
    progress(0.1, 1, "checking images")
    positions, image_ids, coco_ids, widths, heights, new_images = _check_images(
        data["images"], project, options, log, warnings
    )

    progress(0.2, 1, "checking annotations")
    category_id = category.get("id") if category else None
    kc = len(category["keypoints"]) if category else 0
    found = _collect_annotations(data["annotations"], category_id, kc, positions, log)
    # The parsed annotations are most of the memory; what is still needed now lives in `found`.
    data["annotations"] = []
    unique, counts = np.unique(np.asarray(found.ids, dtype=np.int64), return_counts=True)
    for dup in unique[counts > 1][:20]:
        log.add("annotations", "annotation_id_duplicate", f"annotation id {dup} is used more than once.")
    if found.other_categories:
        warnings.append(f"{found.other_categories} annotation(s) of other categories were ignored.")
    if found.crowd:
        warnings.append(f"{found.crowd} crowd region(s) (iscrowd=1) were skipped: they carry no keypoints.")
    arrays = None
    if found.ids and order is not None:
        arrays = _check_instances(found, order, kc, widths, heights, spec, log, warnings)
    if log:
        raise log.fail(warnings)

    progress(0.35, 1, "preparing rows")
    per_image = _group_instances(found, len(data["images"]), *arrays) if arrays else [[] for _ in data["images"]]
    # No error was logged, so every COCO image is either matched or planned for creation.
    return ImportPlan(
        project=project, source=options.source, image_ids=image_ids, new_images=new_images, coco_ids=coco_ids,
        instances_per_image=per_image, warnings=warnings,
        stats={"images": len(image_ids), "instances": len(found.ids), "category_id": category_id},
    )
