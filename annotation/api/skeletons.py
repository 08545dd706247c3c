"""`/api/v1/skeletons/`: list, create, retrieve, update (a new version when frozen), COCO in and out."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ..models import Skeleton
from ..services import skeletons as skeleton_services
from .filters import SkeletonFilter, read


class KeypointSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    sigma = serializers.FloatField()
    color = serializers.RegexField(r"^#[0-9a-fA-F]{6}$", required=False, allow_blank=True)
    flip_partner = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    layout = serializers.ListField(
        child=serializers.FloatField(min_value=0, max_value=1), min_length=2, max_length=2,
        required=False, allow_null=True, help_text="Preview position [x, y] in 0..1.",
    )


class SkeletonSerializer(serializers.ModelSerializer):
    keypoints = KeypointSerializer(many=True)
    edges = serializers.ListField(child=serializers.ListField(child=serializers.CharField(), min_length=2, max_length=2), required=False, default=list)
    is_frozen = serializers.BooleanField(read_only=True)

    class Meta:
        model = Skeleton
        fields = [
            "id", "name", "version", "description", "supercategory", "previous", "keypoints", "edges",
            "is_frozen", "created_at", "updated_at",
        ]
        read_only_fields = ["id", "version", "previous", "is_frozen", "created_at", "updated_at"]

    def to_representation(self, instance):
        data = skeleton_services.definition_of(instance)
        return {
            "id": instance.pk, "version": instance.version, "previous": instance.previous_id,
            "is_frozen": instance.is_frozen, "created_at": instance.created_at, "updated_at": instance.updated_at,
            **data,
        }


class CocoCategorySerializer(serializers.Serializer):
    """A COCO keypoint category (1-based pairs), with Jointly's extra keys; for the schema."""

    id = serializers.IntegerField(required=False)
    name = serializers.CharField(required=False)
    supercategory = serializers.CharField(required=False)
    keypoints = serializers.ListField(child=serializers.CharField())
    skeleton = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    sigmas = serializers.ListField(child=serializers.FloatField(), required=False)
    flip_pairs = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()), required=False)
    colors = serializers.ListField(child=serializers.CharField(), required=False)


class IsStaffOrReadOnly(permissions.BasePermission):
    """Skeletons are shared templates: everyone signed in reads them, admins change them."""

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or bool(request.user and request.user.is_staff)


class SkeletonViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = SkeletonSerializer
    permission_classes = [permissions.IsAuthenticated, IsStaffOrReadOnly]
    queryset = Skeleton.objects.prefetch_related("keypoints", "edges").order_by("name", "-version")

    def get_queryset(self):
        queryset = Skeleton.with_frozen(super().get_queryset())
        if self.action != "list":
            return queryset
        name = read(SkeletonFilter, self.request.query_params).get("name")
        return queryset.filter(name=name) if name else queryset

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        skeleton = skeleton_services.create_skeleton(serializer.validated_data)
        return Response(self.get_serializer(skeleton).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        """Edit a skeleton. A frozen one stays as it is and the edit becomes a new version (201)."""
        current = self.get_object()
        partial = kwargs.pop("partial", False)
        serializer = self.get_serializer(current, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        definition = {**skeleton_services.definition_of(current), **serializer.validated_data}
        definition["name"] = current.name
        result = skeleton_services.update_skeleton(current, definition)
        code = status.HTTP_201_CREATED if result.pk != current.pk else status.HTTP_200_OK
        return Response(self.get_serializer(result).data, status=code)

    @extend_schema(responses={200: CocoCategorySerializer})
    @action(detail=True, methods=["get"])
    def coco(self, request, pk=None):
        """The COCO category of this skeleton (1-based `skeleton` pairs)."""
        return Response(skeleton_services.to_coco_category(self.get_object()))

    @extend_schema(request=CocoCategorySerializer, responses={201: SkeletonSerializer})
    @action(detail=False, methods=["post"], url_path="import-coco")
    def import_coco(self, request):
        """Create a skeleton from a COCO category (`keypoints`, `skeleton`, optional `sigmas`, `flip_pairs`)."""
        category = request.data.get("category", request.data) if isinstance(request.data, dict) else request.data
        skeleton, warnings = skeleton_services.import_coco_category(category)
        data = self.get_serializer(skeleton).data
        data["warnings"] = warnings
        return Response(data, status=status.HTTP_201_CREATED)
