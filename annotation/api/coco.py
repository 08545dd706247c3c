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
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from jointly.api_errors import ApiError, ErrorSerializer
from jointly.domain_errors import Invalid, TooLarge
from jointly.jobs.api import JobRunSerializer
from jointly.jobs.models import JobRun

from ..services.coco_export import coco_chunks, selection_from_params
from ..services.coco_import import IMPORT_SOURCES, sniff_json, start_coco_import
from .filters import CocoImportOptions, read

_COPY_CHUNK = 1024 * 1024


def _too_large(size: int | None = None) -> TooLarge:
    limit = settings.MAX_COCO_UPLOAD_BYTES
    got = f"{size} bytes" if size is not None else "more"
    return TooLarge(
        f"The COCO file is too large: {got}, the limit is {limit} bytes (MAX_COCO_UPLOAD_BYTES).",
        {"file": [f"Larger than {limit} bytes."]},
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
            raise _too_large()
        spool.write(chunk)
    spool.seek(0)
    return spool


def _failure(result: dict, run: JobRun) -> Invalid:
    return Invalid(result.get("detail", "The import failed."), result.get("errors", {}), extra={
        "error_counts": result.get("error_counts", {}), "warnings": result.get("warnings", []),
        "job": JobRunSerializer(run).data,
    })


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
            raise _too_large(declared)
        if request.content_type.startswith("multipart/"):
            upload = request.FILES.get("file")
            if upload is None:
                raise Invalid("Attach the COCO file as multipart field 'file'.", {"file": ["No file was uploaded."]})
            if upload.size > settings.MAX_COCO_UPLOAD_BYTES:
                raise _too_large(upload.size)
            params = {**request.query_params.dict(), **{k: request.data.get(k) for k in request.data if k != "file"}}
            handle = upload
        else:
            handle = _spool_body(request)
            params = request.query_params.dict()
        try:
            options = dict(read(CocoImportOptions, params))
            run = start_coco_import(project, handle, created_by=request.user, **options)
        finally:
            handle.close()
        job = JobRunSerializer(run).data
        if run.state == JobRun.State.FINISHED:
            code = status.HTTP_200_OK if options["dry_run"] else status.HTTP_201_CREATED
            return Response({"detail": "Imported.", "job": job, "result": run.result}, status=code)
        if run.state == JobRun.State.FAILED:
            if isinstance(run.result, dict) and run.result.get("errors"):
                raise _failure(run.result, run)
            raise ApiError(
                "The import failed unexpectedly; the job's error has the details.",
                {"job": [str(run.id)]}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
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
        selection = selection_from_params(request.query_params)
        response = StreamingHttpResponse(coco_chunks(project, selection), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="project-{project.pk}-{selection.source}.coco.json"'
        return response
