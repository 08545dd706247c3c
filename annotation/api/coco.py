"""`/api/v1/projects/{id}/import-coco/` and `/export-coco/`.

Import: the upload (multipart `file`, or the JSON document as the request
body) is size-checked from Content-Length (413 past MAX_COCO_UPLOAD_BYTES),
sniffed from its first bytes (a non-JSON upload is refused at once, never
parsed), stored in Django storage and handed to the `default` queue. With a
worker (REDIS_URL set) the answer is 202 and the job id; the job ends
`failed` with every error in its result when the file is bad. In-process
(no REDIS_URL) the job has already run: a bad file is a 400 carrying the
errors, a good one a 201 carrying the job and its counts.

The JSON body is streamed to a temporary file rather than read with
`request.body`, so DATA_UPLOAD_MAX_MEMORY_SIZE does not cap it and a large
file is never held twice in memory.

Export: streams the COCO file (see services.coco_export).
"""

import tempfile

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from jointly.api_errors import ErrorSerializer, error_response
from jointly.jobs.api import JobRunSerializer
from jointly.jobs.models import JobRun

from ..services.coco_export import coco_chunks, selection_from_params
from ..services.coco_import import IMPORT_SOURCES, CocoImportFailed, sniff_json, start_coco_import
from .images import flag

_COPY_CHUNK = 1024 * 1024


class UploadTooLarge(Exception):
    pass


def _too_large_response(size: int | None = None) -> Response:
    limit = settings.MAX_COCO_UPLOAD_BYTES
    got = f"{size} bytes" if size is not None else "more"
    return error_response(
        f"The COCO file is too large: {got}, the limit is {limit} bytes (MAX_COCO_UPLOAD_BYTES).",
        {"file": [f"Larger than {limit} bytes."]}, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )


def _spool_body(request) -> tempfile.SpooledTemporaryFile:
    """Copy a raw request body to a temporary file, refusing it past the size limit.

    The first chunk is sniffed before the rest is read: a body that is not
    JSON is refused without reading it to the end.
    """
    limit = settings.MAX_COCO_UPLOAD_BYTES
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    total = 0
    while chunk := request._request.read(_COPY_CHUNK):
        if not total:
            sniff_json(chunk[:4096])
        total += len(chunk)
        if total > limit:
            spool.close()
            raise UploadTooLarge()
        spool.write(chunk)
    spool.seek(0)
    return spool


def _import_options(params) -> dict:
    source = params.get("source") or "import"
    if source not in IMPORT_SOURCES:
        raise ValidationError({"source": f"source must be one of {', '.join(IMPORT_SOURCES)}, got {source!r}."})
    category_id = params.get("category_id")
    if category_id not in (None, ""):
        try:
            category_id = int(category_id)
        except (TypeError, ValueError):
            raise ValidationError({"category_id": f"Expected an integer, got {category_id!r}."}) from None
    else:
        category_id = None
    return {
        "source": source, "category_id": category_id,
        "create_missing_images": flag(params.get("create_missing_images")),
        "image_root": str(params.get("image_root") or ""), "dry_run": flag(params.get("dry_run")),
    }


def _failure_body(result: dict, run: JobRun) -> dict:
    return {
        "detail": result.get("detail", "The import failed."), "errors": result.get("errors", {}),
        "error_counts": result.get("error_counts", {}), "warnings": result.get("warnings", []),
        "job": JobRunSerializer(run).data,
    }


class CocoFileSerializer(serializers.Serializer):
    """A COCO keypoints file (the parts Jointly reads); for the schema."""

    images = serializers.ListField(child=serializers.DictField())
    annotations = serializers.ListField(child=serializers.DictField())
    categories = serializers.ListField(child=serializers.DictField())


class CocoUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The COCO keypoints JSON file.")
    source = serializers.ChoiceField(choices=list(IMPORT_SOURCES), required=False)
    create_missing_images = serializers.BooleanField(required=False)
    image_root = serializers.CharField(required=False, allow_blank=True)
    category_id = serializers.IntegerField(required=False)
    dry_run = serializers.BooleanField(required=False)


class CocoImportDoneSerializer(serializers.Serializer):
    detail = serializers.CharField()
    job = JobRunSerializer()
    result = serializers.DictField(help_text="Counts of what was imported (or would be, with dry_run).")


class CocoImportQueuedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    job = JobRunSerializer()
    status_url = serializers.CharField()


class CocoImportFailureSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.JSONField())
    error_counts = serializers.DictField(child=serializers.IntegerField(), required=False)
    warnings = serializers.ListField(child=serializers.CharField(), required=False)
    job = JobRunSerializer(required=False)


class CocoActionsMixin:
    """The import-coco and export-coco actions of ProjectViewSet (needs `project_for`)."""

    @extend_schema(
        request={"multipart/form-data": CocoUploadSerializer, "application/json": CocoFileSerializer},
        parameters=[
            OpenApiParameter("source", str, enum=list(IMPORT_SOURCES)),
            OpenApiParameter("create_missing_images", bool),
            OpenApiParameter("image_root", str, description="Storage folder new image records point into."),
            OpenApiParameter("category_id", int),
            OpenApiParameter("dry_run", bool, description="Check everything, write nothing."),
        ],
        responses={200: CocoImportDoneSerializer, 201: CocoImportDoneSerializer, 202: CocoImportQueuedSerializer,
                   400: CocoImportFailureSerializer, 413: ErrorSerializer},
    )
    # The JSON body is spooled raw (it may be a gigabyte); only multipart goes through a parser.
    @action(detail=True, methods=["post"], url_path="import-coco", parser_classes=[MultiPartParser])
    def import_coco(self, request, pk=None):
        """Import a COCO keypoints file as a job on the `default` queue (options as form fields or query)."""
        project = self.project_for("manage")
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > settings.MAX_COCO_UPLOAD_BYTES:
            return _too_large_response(declared)
        if request.content_type.startswith("multipart/"):
            upload = request.FILES.get("file")
            if upload is None:
                return error_response("Attach the COCO file as multipart field 'file'.", {"file": ["No file was uploaded."]})
            if upload.size > settings.MAX_COCO_UPLOAD_BYTES:
                return _too_large_response(upload.size)
            params = {**request.query_params.dict(), **{k: request.data.get(k) for k in request.data if k != "file"}}
            handle = upload
        else:
            try:
                handle = _spool_body(request)
            except UploadTooLarge:
                return _too_large_response()
            except CocoImportFailed as exc:
                return error_response(str(exc), exc.errors)
            params = request.query_params.dict()
        try:
            options = _import_options(params)
            run = start_coco_import(project, handle, created_by=request.user, **options)
        except CocoImportFailed as exc:
            return error_response(str(exc), exc.errors)
        finally:
            handle.close()
        job = JobRunSerializer(run).data
        if run.state == JobRun.State.FINISHED:
            code = status.HTTP_200_OK if options["dry_run"] else status.HTTP_201_CREATED
            return Response({"detail": "Imported.", "job": job, "result": run.result}, status=code)
        if run.state == JobRun.State.FAILED:
            if isinstance(run.result, dict) and run.result.get("errors"):
                return Response(_failure_body(run.result, run), status=status.HTTP_400_BAD_REQUEST)
            return error_response(
                "The import failed unexpectedly; the job's error has the details.",
                {"job": [str(run.id)]}, status.HTTP_500_INTERNAL_SERVER_ERROR,
            )
        return Response(
            {"detail": "Import queued.", "job": job, "status_url": f"/api/v1/jobs/{run.id}/"},
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("source", str, description="accepted (default: review else consensus) or one source."),
            OpenApiParameter("annotator", int, description="With source=annotator: one annotator's labels."),
            OpenApiParameter("model", int, description="With source=model: one pose model's labels."),
        ],
        responses={(200, "application/json"): CocoFileSerializer},
    )
    @action(detail=True, methods=["get"], url_path="export-coco")
    def export_coco(self, request, pk=None):
        """The project's annotations as a COCO keypoints file, streamed."""
        project = self.project_for("manage")
        try:
            selection = selection_from_params(request.query_params)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        response = StreamingHttpResponse(coco_chunks(project, selection), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="project-{project.pk}-{selection.source}.coco.json"'
        return response
