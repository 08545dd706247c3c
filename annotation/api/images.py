"""`/api/v1/projects/{id}/images/`: upload (multipart, one or many files) and list with filters.

Uploads are all-or-nothing by default: if any file is rejected nothing is
stored and the response is a 400 listing every file's verdict. With
`partial=1` the good files are stored and the response (201) still lists the
rejected ones. Duplicates are never errors: they come back as `duplicate`
with the id of the image that already holds those bytes.

Listing is for project managers and QA leads; annotators get images one at a
time from the assignment engine and never list a project's images.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from jointly.domain_errors import Invalid

from ..access import sees_gold
from ..image_urls import image_file_url
from ..models import Image
from ..selectors import filtered_images
from .filters import ImageFilter, UploadOptions, read
from ..services.images import Candidate, register_images

class ImagePagination(PageNumberPagination):
    """100 per page by default; `page_size` up to 1000 for scripts walking a large project."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class ImageSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "id", "file_name", "url", "width", "height", "sha256", "status", "is_gold", "priority", "coco_id",
            "created_at",
        ]
        read_only_fields = fields

    def get_url(self, image) -> str | None:
        return image_file_url(image)


class UploadRequestSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(), help_text="One or more image files.")
    partial = serializers.BooleanField(required=False, help_text="Store the good files even if some are rejected.")


class FileResultSerializer(serializers.Serializer):
    file_name = serializers.CharField()
    status = serializers.ChoiceField(choices=["created", "attached", "duplicate", "rejected", "not_stored"])
    image_id = serializers.IntegerField(required=False)
    width = serializers.IntegerField(required=False)
    height = serializers.IntegerField(required=False)
    reason = serializers.CharField(required=False)


class UploadResultSerializer(serializers.Serializer):
    """What an upload did; a request with no file at all gets the plain error shape (detail, errors)."""

    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    created = serializers.IntegerField(required=False)
    attached = serializers.IntegerField(required=False)
    duplicates = serializers.IntegerField(required=False)
    rejected = serializers.IntegerField(required=False)
    stored = serializers.BooleanField(required=False)
    results = FileResultSerializer(many=True, required=False)


class ImageActionsMixin:
    """The images action of ProjectViewSet (needs `project_for`)."""

    @extend_schema(
        methods=["GET"], responses=ImageSerializer(many=True),
        parameters=[
            OpenApiParameter("status", str, description="One status or several, comma-separated."),
            OpenApiParameter("is_gold", bool),
            OpenApiParameter("file_name", str, description="Substring of the file name, case-insensitive."),
        ],
    )
    @extend_schema(methods=["POST"], request={"multipart/form-data": UploadRequestSerializer},
                   responses={200: UploadResultSerializer, 201: UploadResultSerializer, 400: UploadResultSerializer})
    @action(detail=True, methods=["get", "post"], url_path="images", parser_classes=[MultiPartParser])
    def images(self, request, pk=None):
        """GET: the project's images with their status (managers and QA leads; gold images only for the
        owning organization). POST: upload image files, multipart field `files` (managers)."""
        if request.method == "POST":
            return self._upload_images(request)
        project = self.project_for("review")
        queryset = filtered_images(project, **read(ImageFilter, request.query_params),
                                   include_gold=sees_gold(request.user, project))
        paginator = ImagePagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(ImageSerializer(page, many=True, context={"request": request}).data)

    def _upload_images(self, request):
        project = self.project_for("manage")
        uploads = request.FILES.getlist("files") + request.FILES.getlist("file")
        if not uploads:
            raise Invalid("Attach one or more image files (multipart field 'files').", {"files": ["No file was uploaded."]})
        given = {"partial": request.query_params.get("partial") or request.data.get("partial")}
        partial = read(UploadOptions, given)["partial"]
        batch = register_images(
            project, [Candidate(file_name=f.name, fileobj=f, size=f.size) for f in uploads], partial=partial,
        )
        body = batch.as_dict()
        rejected = [r for r in batch.results if r.status == "rejected"]
        errors = {"files": [f"{r.file_name}: {r.reason}" for r in rejected]} if rejected else {}
        if not batch.stored:
            raise Invalid(
                f"{len(rejected)} of {len(uploads)} file(s) rejected; nothing was stored "
                "(send partial=1 to store the good ones). " + errors["files"][0],
                errors, extra=body,
            )
        created = batch.count("created")
        body.update(
            detail=f"{created} image(s) stored, {batch.count('duplicate')} duplicate(s), {len(rejected)} rejected.",
            errors=errors,
        )
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
