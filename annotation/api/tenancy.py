"""`/api/v1/organizations/` and `/api/v1/instructions/`: run by the organization's own people.

Who does what (annotation/access.py): staff create organizations; an
organization's admins rename it; its admins and project managers write its
instructions (a change of title or body is a new version, which annotators
acknowledge again); any member reads them. Something outside the caller's
organizations is a 404; something they can see but not change is a 403.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from jointly.api_errors import ErrorSerializer

from ..access import (
    administered_organizations, managed_instructions, managed_organizations, readable_instructions,
    visible_organizations,
)
from ..models import Instructions, Organization
from ..services import instructions as instructions_services
from ..services import tenancy

User = get_user_model()
ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}


def organization_to_manage(user, organization_id: int, refusal: str) -> Organization:
    """The organization a write names, if the caller manages it. One they only belong to is a 403
    (`refusal`); one outside their reach gets the answer of an id that does not exist."""
    organization = managed_organizations(user).filter(pk=organization_id).first()
    if organization is not None:
        return organization
    if visible_organizations(user).filter(pk=organization_id).exists():
        raise PermissionDenied(refusal)
    raise serializers.ValidationError({"organization": [f'Invalid pk "{organization_id}" - object does not exist.']})


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "created_at"]
        read_only_fields = ["id", "created_at"]


class NewOrganizationSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    admin = serializers.IntegerField(min_value=1, required=False, help_text="User id of its first admin.")


class OrganizationRenameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)


class OrganizationListView(APIView):
    @extend_schema(responses={200: OrganizationSerializer(many=True), **ERRORS})
    def get(self, request):
        """Organizations the caller holds a role in (staff: all)."""
        return Response(OrganizationSerializer(visible_organizations(request.user).order_by("name"), many=True).data)

    @extend_schema(request=NewOrganizationSerializer, responses={201: OrganizationSerializer, **ERRORS})
    def post(self, request):
        """Create an organization (staff only), optionally naming its first admin."""
        if not request.user.is_staff:
            raise PermissionDenied("Organizations are created by staff.")
        serializer = NewOrganizationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        admin = None
        if "admin" in serializer.validated_data:
            admin = User.objects.filter(pk=serializer.validated_data["admin"]).first()
            if admin is None:
                raise serializers.ValidationError({"admin": [f'Invalid pk "{serializer.validated_data["admin"]}" '
                                                             "- object does not exist."]})
        organization = tenancy.create_organization(name=serializer.validated_data["name"], admin=admin)
        return Response(OrganizationSerializer(organization).data, status=status.HTTP_201_CREATED)


class OrganizationDetailView(APIView):
    def _organization(self, request, pk: int) -> Organization:
        organization = visible_organizations(request.user).filter(pk=pk).first()
        if organization is None:
            raise NotFound("No such organization.")
        return organization

    @extend_schema(responses={200: OrganizationSerializer, **ERRORS})
    def get(self, request, pk: int):
        return Response(OrganizationSerializer(self._organization(request, pk)).data)

    @extend_schema(request=OrganizationRenameSerializer, responses={200: OrganizationSerializer, **ERRORS})
    def patch(self, request, pk: int):
        """Rename the organization (its admins)."""
        organization = self._organization(request, pk)
        if not administered_organizations(request.user).filter(pk=pk).exists():
            raise PermissionDenied("Only the organization's admins rename it.")
        serializer = OrganizationRenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organization = tenancy.rename(organization, name=serializer.validated_data["name"])
        return Response(OrganizationSerializer(organization).data)


# --- instructions ---------------------------------------------------------------------


class InstructionsSerializer(serializers.ModelSerializer):
    body_html = serializers.SerializerMethodField()

    class Meta:
        model = Instructions
        fields = ["id", "organization", "title", "body", "body_html", "version", "created_at", "updated_at"]
        read_only_fields = fields

    def get_body_html(self, instructions) -> str:
        return instructions_services.render_markdown(instructions.body)


class NewInstructionsSerializer(serializers.Serializer):
    organization = serializers.IntegerField(min_value=1)
    title = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=200_000, allow_blank=True)


class InstructionsUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    body = serializers.CharField(max_length=200_000, allow_blank=True, required=False)


class InstructionsListView(APIView):
    @extend_schema(responses={200: InstructionsSerializer(many=True), **ERRORS})
    def get(self, request):
        """Instructions of the caller's organizations."""
        queryset = readable_instructions(request.user).order_by("title", "id")
        return Response(InstructionsSerializer(queryset, many=True).data)

    @extend_schema(request=NewInstructionsSerializer, responses={201: InstructionsSerializer, **ERRORS})
    def post(self, request):
        """Write new instructions for an organization the caller manages (version 1)."""
        serializer = NewInstructionsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = organization_to_manage(
            request.user, data["organization"], "Only the organization's admins and project managers write instructions.")
        instructions = instructions_services.create_instructions(
            title=data["title"], body=data["body"], organization=organization)
        return Response(InstructionsSerializer(instructions).data, status=status.HTTP_201_CREATED)


class InstructionsDetailView(APIView):
    def _instructions(self, request, pk: int) -> Instructions:
        instructions = readable_instructions(request.user).filter(pk=pk).first()
        if instructions is None:
            raise NotFound("No such instructions.")
        return instructions

    @extend_schema(responses={200: InstructionsSerializer, **ERRORS})
    def get(self, request, pk: int):
        return Response(InstructionsSerializer(self._instructions(request, pk)).data)

    @extend_schema(request=InstructionsUpdateSerializer, responses={200: InstructionsSerializer, **ERRORS})
    def patch(self, request, pk: int):
        """Change title and/or body: a new version when the text changes."""
        instructions = self._instructions(request, pk)
        if not managed_instructions(request.user).filter(pk=pk).exists():
            raise PermissionDenied("Only the organization's admins and project managers change instructions.")
        serializer = InstructionsUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instructions_services.update_instructions(instructions, **serializer.validated_data)
        return Response(InstructionsSerializer(instructions).data)
