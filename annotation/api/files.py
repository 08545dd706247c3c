"""The only ways to a stored image file: `images/{id}/file/` and `instruction-examples/{id}/image/`.

The media folder itself is not served (jointly/urls.py): each file goes out
through a view whose queryset starts from an access selector, so a file's
path is worth nothing to someone who may not see the row it belongs to.
Local storage is streamed by the web worker (FileResponse); remote storage
(S3 through django-storages) is answered with a redirect to the storage's own
presigned URL, so the bytes never pass through the web worker.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from django.utils.cache import get_conditional_response
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.views import APIView

from ..access import readable_images, readable_instruction_examples

#: What a stored file is served as, by its suffix (upload names are ours: see models.image_upload_path).
CONTENT_TYPES = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif", ".webp": "image/webp",
    ".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff",
}
#: Anything else goes out as bytes, never as something a browser would render as a page.
FALLBACK_TYPE = "application/octet-stream"
SERVED_TYPES = (*dict.fromkeys(CONTENT_TYPES.values()), FALLBACK_TYPE)
#: How long the browser keeps a file before asking again (with If-None-Match where there is an ETag).
MAX_AGE_SECONDS = 3600
#: How long the browser may reuse a redirect to remote storage: well inside the presigned URL's
#: lifetime (django-storages' AWS_QUERYSTRING_EXPIRE, an hour by default).
REDIRECT_MAX_AGE_SECONDS = 300


def _is_local(file: FieldFile) -> bool:
    try:
        file.storage.path(file.name)
    except NotImplementedError:  # remote storages have no filesystem path
        return False
    return True


def serve_file(request, file: FieldFile, *, missing: str, etag: str | None = None) -> HttpResponse:
    """The stored file, to a caller the view already found allowed: streamed with its type, a 302 to
    the storage's own URL when remote, a 304 when the caller's copy (If-None-Match) is current."""
    if not file:
        raise NotFound(missing)
    if not _is_local(file):
        response = HttpResponseRedirect(file.url)
        response["Cache-Control"] = f"private, max-age={REDIRECT_MAX_AGE_SECONDS}"
        return response
    cache_control = f"private, max-age={MAX_AGE_SECONDS}"
    quoted = f'"{etag}"' if etag else None
    if quoted:
        not_modified = get_conditional_response(request, etag=quoted)
        if not_modified is not None:
            not_modified["ETag"] = quoted
            not_modified["Cache-Control"] = cache_control
            return not_modified
    try:
        handle = file.open("rb")
    except FileNotFoundError:
        raise NotFound(missing) from None
    content_type = CONTENT_TYPES.get(PurePosixPath(file.name).suffix.lower(), FALLBACK_TYPE)
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = cache_control
    if quoted:
        response["ETag"] = quoted
    return response


class FileView(APIView):
    """A view answering a file (or the JSON error shape) whatever the Accept header says."""

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)


def _file_schema(missing: str):
    return extend_schema(responses={
        **{(200, content_type): OpenApiTypes.BINARY for content_type in SERVED_TYPES},
        302: OpenApiResponse(description="Remote storage: the storage's own (presigned) URL of the file."),
        304: OpenApiResponse(description="The copy named by If-None-Match is current."),
        404: OpenApiResponse(description=missing),
    })


class ImageFileView(FileView):
    @_file_schema("No such image, or not one the caller may see.")
    def get(self, request, image_id: int):
        """A project image's file, to those who may see the image (access.readable_images); 404 to anyone else.
        The ETag is the file's SHA-256, so the browser revalidates with a 304."""
        image = readable_images(request.user).filter(pk=image_id).only("file", "sha256").first()
        if image is None:
            raise NotFound("No such image.")
        return serve_file(request, image.file, missing="No such image.", etag=image.sha256 or None)


class InstructionExampleImageView(FileView):
    @_file_schema("No such example, or its instructions are not the caller's to read.")
    def get(self, request, example_id: int):
        """An example image of instructions the caller may read (access.readable_instruction_examples)."""
        example = readable_instruction_examples(request.user).filter(pk=example_id).first()
        if example is None:
            raise NotFound("No such example.")
        return serve_file(request, example.image, missing="No such example.")
