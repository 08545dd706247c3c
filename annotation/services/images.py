"""Register image files in a project: inspect, deduplicate, store.

An upload is untrusted bytes. Before anything is stored each file is checked
by Pillow: the decompression-bomb limit (settings.MAX_IMAGE_PIXELS) is
enforced before any pixel is decoded, `verify()` checks the container, and a
full `load()` catches truncated files that `verify()` lets through. Only the
sanitized base name of what the client called the file is kept, as metadata:
the storage path is derived from the content hash (see
`annotation.models.image.image_upload_path`), so a name like
``../../etc/passwd`` can never become a path.

A batch is all-or-nothing by default: one bad file and nothing of the batch
is stored, and the caller gets every file's verdict. `partial=True` stores the
good files and reports the bad ones. A duplicate (the same sha256 already in
the project, or twice in the batch) is not an error: it is reported with the
existing image's id and stored once.

A COCO import can create image records before their files exist (sizes
taken from the COCO file). A later upload or folder registration of a file
with that name attaches the file to the record ("attached") instead of
making a second image, provided the pixel size agrees.

Width and height are the stored pixel grid, as COCO records them; an EXIF
orientation tag is not applied (COCO tools and our kernels work in the
stored grid, and a client must draw the image unrotated to match).
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from ..models import Image, Project
from ..models.image import image_upload_path

#: What Pillow may decode for us, and the extension each is stored under.
ACCEPTED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif", "GIF": "gif", "MPO": "jpg"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
_HASH_CHUNK = 1024 * 1024


class ImageRejected(Exception):
    """A file that is not an image we accept; the message says why, for the uploader."""


@dataclass
class InspectedImage:
    file_name: str
    sha256: str
    width: int
    height: int
    extension: str


@dataclass
class FileResult:
    """The verdict on one file of a batch, as the API and the command report it."""

    file_name: str
    status: str  # "created" | "attached" | "duplicate" | "rejected" | "not_stored"
    image_id: int | None = None
    reason: str = ""
    width: int | None = None
    height: int | None = None

    def as_dict(self) -> dict:
        data = {"file_name": self.file_name, "status": self.status}
        if self.image_id is not None:
            data["image_id"] = self.image_id
        if self.width is not None:
            data.update(width=self.width, height=self.height)
        if self.reason:
            data["reason"] = self.reason
        return data


@dataclass
class BatchResult:
    results: list[FileResult] = field(default_factory=list)
    stored: bool = True  # False when an all-or-nothing batch was refused

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    def as_dict(self) -> dict:
        return {
            "created": self.count("created"), "attached": self.count("attached"), "duplicates": self.count("duplicate"),
            "rejected": self.count("rejected"), "stored": self.stored,
            "results": [r.as_dict() for r in self.results],
        }


def sanitized_file_name(name: str, *, keep_folders: bool = False) -> str:
    """The client's name reduced to metadata: no folders (unless relative and clean), no control characters."""
    name = unicodedata.normalize("NFC", str(name or "")).replace("\\", "/")
    parts = [p for p in name.split("/") if p not in ("", ".", "..")]
    if not keep_folders:
        parts = parts[-1:]
    cleaned = "/".join("".join(ch for ch in p if ch.isprintable()).strip() for p in parts).strip("/")
    return (cleaned or "image")[-255:]


#: Markup inside an image file (appended after the image, or in a comment block) turns it
#: into a polyglot a browser may render as a page if it ever sniffs the type. Seven given
#: bytes in a row do not occur in real pixel data by chance.
_MARKUP = re.compile(rb"<\s*(?:script|html|body|iframe|svg|object|embed|!doctype|\?xml)[\s>/]", re.IGNORECASE)
_MARKUP_OVERLAP = 32


def inspect_image(fileobj: IO[bytes], file_name: str, size: int | None = None) -> InspectedImage:
    """Hash and check one file; raise ImageRejected with a reason a person can act on.

    `file_name` is recorded as given: sanitize it first (`sanitized_file_name`).
    """
    if size is not None and size > settings.MAX_IMAGE_UPLOAD_BYTES:
        raise ImageRejected(
            f"file is {size} bytes, over the limit of {settings.MAX_IMAGE_UPLOAD_BYTES} bytes (MAX_IMAGE_UPLOAD_BYTES)."
        )
    if size == 0:
        raise ImageRejected("file is empty.")
    digest = hashlib.sha256()
    fileobj.seek(0)
    tail = b""
    for chunk in iter(lambda: fileobj.read(_HASH_CHUNK), b""):
        digest.update(chunk)
        if _MARKUP.search(tail + chunk):
            raise ImageRejected("the file carries HTML or script markup besides the image (a polyglot file); "
                                "export the image again.")
        tail = chunk[-_MARKUP_OVERLAP:]
    limit = settings.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x its limit; a bomb is a bomb.
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            # Pillow reads its limit from a module global; setting it to our setting each time
            # keeps every thread and process on the same value.
            PILImage.MAX_IMAGE_PIXELS = limit
            fileobj.seek(0)
            with PILImage.open(fileobj) as img:
                fmt, (width, height) = img.format, img.size
                if fmt not in ACCEPTED_FORMATS:
                    raise ImageRejected(
                        f"{fmt} images are not accepted; use one of {', '.join(sorted(ACCEPTED_FORMATS))}."
                    )
                if width * height > limit:
                    raise PILImage.DecompressionBombError(f"{width}x{height}")
                img.verify()
            fileobj.seek(0)
            with PILImage.open(fileobj) as img:
                img.load()  # verify() does not decode: a truncated file only fails here
    except ImageRejected:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise ImageRejected(
            f"image is too large to decode safely ({_declared_size(fileobj)}); "
            f"the limit is {limit} pixels (MAX_IMAGE_PIXELS). Possible decompression bomb."
        ) from None
    except UnidentifiedImageError:
        raise ImageRejected("not an image (Pillow cannot identify the format).") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected(f"damaged or truncated image: {exc}.") from None
    finally:
        fileobj.seek(0)
    return InspectedImage(
        file_name=file_name, sha256=digest.hexdigest(),
        width=int(width), height=int(height), extension=ACCEPTED_FORMATS[fmt],
    )


def _declared_size(fileobj) -> str:
    """The size a bomb claims, read from its header without decoding it."""
    try:
        fileobj.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            saved, PILImage.MAX_IMAGE_PIXELS = PILImage.MAX_IMAGE_PIXELS, None
            try:
                with PILImage.open(fileobj) as img:
                    w, h = img.size
            finally:
                PILImage.MAX_IMAGE_PIXELS = saved
        return f"{w}x{h} = {w * h} pixels"
    except Exception:
        return "size unknown"


@dataclass
class Candidate:
    """A file offered for registration: an open file, or a path already in storage (in-place)."""

    file_name: str
    fileobj: IO[bytes] | None = None
    size: int | None = None
    storage_name: str | None = None  # in-place: reference this existing storage path, copy nothing
    keep_folders: bool = False  # record a clean relative path (folder registration), not just the base name
    placeholder: tuple | None = None  # (id, width, height) of a file-less record this file completes
    inspected: InspectedImage | None = None
    rejection: str = ""


def register_images(project: Project, candidates: Iterable[Candidate], *, partial: bool = False) -> BatchResult:
    """Inspect every candidate, then store the new ones and record them in one transaction.

    Files are written to storage before the rows are inserted; if the insert
    fails the files written by this call are deleted again, so nothing is
    half-registered.
    """
    candidates = list(candidates)
    for c in candidates:
        c.file_name = sanitized_file_name(c.file_name, keep_folders=c.keep_folders)
        try:
            c.inspected = inspect_image(c.fileobj, c.file_name, c.size)
        except ImageRejected as exc:
            c.rejection = str(exc)
    _match_file_less_records(project, [c for c in candidates if c.inspected])
    batch = BatchResult()
    rejected = [c for c in candidates if c.rejection]
    if rejected and not partial:
        batch.stored = False
        batch.results = [
            FileResult(c.file_name, "rejected", reason=c.rejection) if c.rejection
            else FileResult(c.inspected.file_name, "not_stored", reason="the batch has rejected files; nothing was stored")
            for c in candidates
        ]
        return batch

    written: list[str] = []
    try:
        with transaction.atomic():
            # Serialize registrations per project: the duplicate check below stays true until commit.
            Project.objects.select_for_update().filter(pk=project.pk).first()
            good = [c for c in candidates if c.inspected and not c.rejection]
            existing = dict(
                Image.objects.filter(project=project, sha256__in={c.inspected.sha256 for c in good})
                .values_list("sha256", "id")
            )
            new_images: list[tuple[Candidate, Image]] = []
            first_in_batch: dict[str, Candidate] = {}
            for c in good:
                sha = c.inspected.sha256
                if sha in existing or sha in first_in_batch:
                    continue
                first_in_batch[sha] = c
                image = Image(
                    project=project, file_name=c.inspected.file_name, width=c.inspected.width,
                    height=c.inspected.height, sha256=sha,
                )
                if c.placeholder:
                    image.pk = c.placeholder[0]
                if c.storage_name:
                    image.file.name = c.storage_name
                else:
                    name = image_upload_path(image, f"x.{c.inspected.extension}")
                    if not default_storage.exists(name):  # content-addressed: same name, same bytes
                        c.fileobj.seek(0)
                        name = default_storage.save(name, c.fileobj)
                        written.append(name)
                    image.file.name = name
                new_images.append((c, image))
            Image.objects.bulk_create([image for c, image in new_images if not c.placeholder], batch_size=1000)
            Image.objects.bulk_update(
                [image for c, image in new_images if c.placeholder], ["file", "sha256"], batch_size=1000
            )
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise

    created = {c.inspected.sha256: image for c, image in new_images}
    for c in candidates:
        if c.rejection:
            batch.results.append(FileResult(c.file_name, "rejected", reason=c.rejection))
            continue
        info = c.inspected
        if c is first_in_batch.get(info.sha256):
            image = created[info.sha256]
            status = "attached" if c.placeholder else "created"
            batch.results.append(FileResult(info.file_name, status, image.id, width=info.width, height=info.height))
        else:
            existing_id = existing.get(info.sha256) or created[info.sha256].id
            batch.results.append(FileResult(
                info.file_name, "duplicate", existing_id,
                reason=f"same content (sha256 {info.sha256[:12]}...) as image {existing_id}",
            ))
    return batch


def _match_file_less_records(project: Project, candidates: list[Candidate]) -> None:
    """Point candidates at the file-less records (from a COCO import) they complete, by name.

    An exact name wins; else a record whose base name is the candidate's and
    is the only one so named. A size that disagrees rejects the file: its
    imported keypoints would not fit it.
    """
    if not candidates:
        return
    records = list(Image.objects.filter(project=project, file="").values_list("id", "file_name", "width", "height"))
    if not records:
        return
    by_name = {r[1]: r for r in records}
    by_base: dict[str, list[tuple]] = {}
    for r in records:
        by_base.setdefault(r[1].rsplit("/", 1)[-1], []).append(r)
    claimed: set[int] = set()
    for c in candidates:
        match = by_name.get(c.file_name)
        if match is None:
            same_base = by_base.get(c.file_name.rsplit("/", 1)[-1], [])
            match = same_base[0] if len(same_base) == 1 else None
        if match is None or match[0] in claimed:
            continue
        claimed.add(match[0])
        pk, _, width, height = match
        if (width, height) != (c.inspected.width, c.inspected.height):
            c.rejection = (
                f"image {pk} '{match[1]}' was imported as {width}x{height}, this file is "
                f"{c.inspected.width}x{c.inspected.height}; its keypoints would not fit."
            )
        else:
            c.placeholder = (pk, width, height)


def in_place_storage_name(path: Path) -> str:
    """The storage name of a file under MEDIA_ROOT, for registering it without copying.

    Raises ValidationError when the file lies outside MEDIA_ROOT (after
    resolving links): in-place registration never reaches beyond storage.
    """
    try:
        default_storage.path("")
    except NotImplementedError:  # S3 and other remote storages: there is no local place to reference
        raise ValidationError(
            {"folder": "--in-place needs local file storage (MEDIA_ROOT); this storage is remote."}
        ) from None
    root = Path(settings.MEDIA_ROOT).resolve()
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise ValidationError({"folder": f"--in-place needs files under MEDIA_ROOT ({root}); {resolved} is not."})
    return resolved.relative_to(root).as_posix()


def image_files_under(folder: Path) -> list[Path]:
    """Image files in a folder and its subfolders, by suffix, in a stable order."""
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not any(s.startswith(".") for s in p.parts)
    )


def register_folder(project: Project, folder: Path, *, in_place: bool = False, batch_size: int = 200, progress=None):
    """Register every image under `folder`, in batches, skipping duplicates and reporting bad files.

    The stored file name is the path relative to `folder`, so `cam1/0001.jpg`
    and `cam2/0001.jpg` stay distinguishable (COCO files refer to them so).
    Returns a BatchResult over the whole folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValidationError({"folder": f"{folder} is not a folder."})
    paths = image_files_under(folder)
    total = BatchResult()
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        handles, candidates = [], []
        try:
            for path in chunk:
                handle = open(path, "rb")
                handles.append(handle)
                candidates.append(Candidate(
                    file_name=path.relative_to(folder).as_posix(), fileobj=handle, size=os.fstat(handle.fileno()).st_size,
                    storage_name=in_place_storage_name(path) if in_place else None, keep_folders=True,
                ))
            result = register_images(project, candidates, partial=True)
        finally:
            for handle in handles:
                handle.close()
        total.results.extend(result.results)
        if progress:
            progress(start + len(chunk), len(paths), f"{total.count('created')} registered")
    return total

