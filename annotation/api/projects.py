"""`/api/v1/projects/`: list, create, retrieve, update; images, COCO import and export hang off a project.

Access (annotation/access.py): anyone who can see a project reads it; only
staff and the organization's admins and project managers create, configure,
upload, import and export; QA leads may also list images. A project the
caller cannot see at all is a 404, never a 403, so its existence is not
revealed to other tenants.
"""

from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from ..access import can_create_project_in, managed_projects, reviewable_projects, visible_projects, visible_vendors
from ..models import Image, Organization, Project, Vendor
from ..services import projects as project_services
from .coco import CocoActionsMixin
from .filters import ProjectFilter, read
from .images import ImageActionsMixin


class ProjectSerializer(serializers.ModelSerializer):
    organization = serializers.PrimaryKeyRelatedField(queryset=Organization.objects.all())
    vendors = serializers.PrimaryKeyRelatedField(queryset=Vendor.objects.all(), many=True, required=False)
    skeleton_label = serializers.CharField(source="skeleton.__str__", read_only=True)
    image_count = serializers.IntegerField(read_only=True, default=0)
    accepted_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Project
        fields = [
            "id", "organization", "name", "description", "skeleton", "skeleton_label", "instructions", "replicas",
            "lease_seconds", "idle_limit_seconds", "auto_accept_oks", "review_sample_rate", "gold_rate",
            "max_instances_per_image",
            "max_replicas", "spot_check_share", "qualification_images", "qualification_oks", "pause_gold_oks",
            "pause_loo_oks", "pause_window",
            "prelabel_model", "show_prelabels", "vendors", "is_active", "image_count", "accepted_count",
            "created_at", "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        # The (organization, name) uniqueness is checked by the service's full_clean, with a clear message.
        validators = []

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:  # a project does not move between organizations
            fields["organization"].read_only = True
        return fields

    def to_representation(self, project):
        data = super().to_representation(project)
        # A vendor's people learn their own vendor's grant, not which other vendors work on the project.
        request = self.context.get("request")
        if request is not None and "visible_vendor_ids" not in self.context:
            self.context["visible_vendor_ids"] = set(visible_vendors(request.user).values_list("pk", flat=True))
        if request is not None:
            data["vendors"] = [pk for pk in data["vendors"] if pk in self.context["visible_vendor_ids"]]
        return data


def _image_count(**filters):
    return Coalesce(
        Subquery(
            Image.objects.filter(project=OuterRef("pk"), **filters).order_by()
            .values("project").annotate(n=Count("id")).values("n"),
            output_field=IntegerField(),
        ),
        0,
    )


class ProjectViewSet(
    ImageActionsMixin, CocoActionsMixin,
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Projects the caller can see: anyone with a role on one reads it; its organization's
    admins and project managers create and configure it. A project outside the caller's
    reach is a 404."""

    serializer_class = ProjectSerializer

    def get_queryset(self):
        queryset = (
            visible_projects(self.request.user)
            .select_related("skeleton")
            .prefetch_related("vendors")
            .order_by("-created_at", "-id")
        )
        if self.action in ("list", "retrieve"):
            queryset = queryset.annotate(
                image_count=_image_count(), accepted_count=_image_count(status=Image.Status.ACCEPTED)
            )
        if self.action == "list":
            filters = read(ProjectFilter, self.request.query_params)
            if "organization" in filters:
                queryset = queryset.filter(organization_id=filters["organization"])
            if "is_active" in filters:
                queryset = queryset.filter(is_active=filters["is_active"])
        return queryset

    def project_for(self, capability: str) -> Project:
        """The URL's project if the caller may `manage` it (or `review` it); 404 if they cannot see it."""
        project = self.get_object()
        user = self.request.user
        allowed = managed_projects(user).filter(pk=project.pk).exists()
        if not allowed and capability == "review":
            allowed = reviewable_projects(user).filter(pk=project.pk).exists()
        if not allowed:
            what = "manage" if capability == "manage" else "manage or review"
            raise PermissionDenied(f"You may see this project but not {what} it.")
        return project

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        organization = data.pop("organization")
        if not can_create_project_in(request.user, organization.pk):
            if request.user.memberships.filter(organization=organization, is_active=True).exists():
                raise PermissionDenied("Only the organization's admins and project managers create projects.")
            # Someone outside the organization learns no more than for an id that does not exist.
            raise serializers.ValidationError(
                {"organization": [f'Invalid pk "{organization.pk}" - object does not exist.']}
            )
        project = project_services.create_project(organization=organization, **data)
        return Response(self.get_serializer(self._annotated(project)).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        project = self.project_for("manage")
        partial = kwargs.pop("partial", False)
        serializer = self.get_serializer(project, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("organization", None)
        project = project_services.update_project(project, **data)
        return Response(self.get_serializer(self._annotated(project)).data)

    def _annotated(self, project: Project) -> Project:
        return (
            Project.objects.select_related("skeleton").prefetch_related("vendors")
            .annotate(image_count=_image_count(), accepted_count=_image_count(status=Image.Status.ACCEPTED))
            .get(pk=project.pk)
        )

