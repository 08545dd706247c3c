"""Vendors, their members and staffing, per-annotator numbers and the CSV timesheet.

A vendor outside the caller's reach is a 404 (its existence is not
revealed); a vendor the caller can see but not run is a 403 for changes.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.fields import empty
from rest_framework.response import Response
from rest_framework.views import APIView

from jointly.throttles import AccountCreationThrottle, WriteRateThrottle

from ..access import managed_vendors, statistics_scope, supervised_vendors, visible_vendors
from ..models import Membership, Project, ProjectAnnotator, Vendor
from ..services import tenancy as tenancy_services
from ..services import timesheets
from ..services import workforce as workforce_services
from ..services.accounts import HANDLE_PATTERN
from ..stats import annotator_numbers, quality_numbers
from .filters import StaffingFilter, StatsFilter, TimesheetFilter, read
from .tenancy import organization_to_manage

User = get_user_model()


def _vendor(user, vendor_id: int, *, manage: bool = False, supervise: bool = False) -> Vendor:
    vendor = visible_vendors(user).filter(pk=vendor_id).first()
    if vendor is None:
        raise NotFound("No such vendor.")
    if manage and not managed_vendors(user).filter(pk=vendor_id).exists():
        raise PermissionDenied("Only this vendor's managers can do this.")
    if supervise and not supervised_vendors(user).filter(pk=vendor_id).exists():
        raise PermissionDenied("Only this vendor's managers and QA leads can see this.")
    return vendor


class VendorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Vendor
        fields = ["id", "name", "created_at"]


class NewVendorSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    organization = serializers.IntegerField(min_value=1, help_text="The organization the vendor works for.")
    manager_handle = serializers.RegexField(
        HANDLE_PATTERN, required=False, default="",
        help_text="A new account, the vendor's first manager, signing in as `v<vendor id>.<handle>`.")
    manager_email = serializers.EmailField(required=False, allow_blank=True, default="")
    manager_password = serializers.CharField(required=False, allow_blank=True, write_only=True, default="")


class NewVendorAnswerSerializer(VendorSerializer):
    manager_username = serializers.CharField(allow_null=True, help_text="The first manager's sign-in name.")

    class Meta(VendorSerializer.Meta):
        fields = [*VendorSerializer.Meta.fields, "manager_username"]


class VendorRenameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)


class VendorListView(APIView):
    throttle_classes = [WriteRateThrottle, AccountCreationThrottle]  # a new vendor comes with its manager

    @extend_schema(responses={200: VendorSerializer(many=True)})
    def get(self, request):
        """Vendors the caller belongs to, or that work for organizations the caller manages."""
        return Response(VendorSerializer(visible_vendors(request.user).order_by("name"), many=True).data)

    @extend_schema(request=NewVendorSerializer, responses={201: NewVendorAnswerSerializer})
    def post(self, request):
        """Create a vendor working for an organization the caller manages, with its first manager."""
        serializer = NewVendorSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = organization_to_manage(
            request.user, data["organization"], "Only the organization's admins and project managers add vendors.")
        vendor, manager = tenancy_services.create_vendor(
            name=data["name"], organization=organization, manager_handle=data["manager_handle"],
            manager_email=data["manager_email"], manager_password=data["manager_password"] or None,
        )
        vendor.manager_username = manager.username if manager else None
        return Response(NewVendorAnswerSerializer(vendor).data, status=status.HTTP_201_CREATED)


class VendorDetailView(APIView):
    @extend_schema(responses={200: VendorSerializer})
    def get(self, request, vendor_id: int):
        return Response(VendorSerializer(_vendor(request.user, vendor_id)).data)

    @extend_schema(request=VendorRenameSerializer, responses={200: VendorSerializer})
    def patch(self, request, vendor_id: int):
        """Rename the vendor (its managers)."""
        vendor = _vendor(request.user, vendor_id, manage=True)
        serializer = VendorRenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(VendorSerializer(tenancy_services.rename(vendor, **serializer.validated_data)).data)


# --- members ------------------------------------------------------------------------


class MemberUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "first_name", "last_name", "email"]


class MembershipSerializer(serializers.ModelSerializer):
    user = MemberUserSerializer(read_only=True)
    projects = serializers.SerializerMethodField()

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "is_active", "created_at", "projects"]

    def get_projects(self, membership) -> list[int]:
        return self.context["staffed"].get(membership.user_id, [])


class NewMemberSerializer(serializers.Serializer):
    handle = serializers.RegexField(
        HANDLE_PATTERN,
        help_text="Letters, digits and @/./+/-/_ only. The person signs in as `v<vendor id>.<handle>`.")
    role = serializers.ChoiceField(choices=workforce_services.VENDOR_GRANTABLE_ROLES, default=Membership.Role.ANNOTATOR)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=150, default="")
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=150, default="")
    password = serializers.CharField(required=False, allow_blank=True, write_only=True, default="")


class _RequiredBooleanField(serializers.BooleanField):
    """A boolean that must be sent. DRF reads a boolean missing from form data as `false`
    (an unticked HTML checkbox); an empty body must not deactivate anyone."""

    default_empty_html = empty


class MemberUpdateSerializer(serializers.Serializer):
    is_active = _RequiredBooleanField()


def _staffed_projects(vendor: Vendor) -> dict[int, list[int]]:
    staffed: dict[int, list[int]] = {}
    for user_id, project_id in ProjectAnnotator.objects.filter(vendor=vendor).values_list("user_id", "project_id"):
        staffed.setdefault(user_id, []).append(project_id)
    return staffed


class VendorMembersView(APIView):
    throttle_classes = [WriteRateThrottle, AccountCreationThrottle]

    @extend_schema(responses={200: MembershipSerializer(many=True)})
    def get(self, request, vendor_id: int):
        """The vendor's people and roles, with the projects each annotator is staffed on."""
        vendor = _vendor(request.user, vendor_id, supervise=True)
        members = Membership.objects.filter(vendor=vendor).select_related("user").order_by("user__username", "role")
        return Response(MembershipSerializer(members, many=True, context={"staffed": _staffed_projects(vendor)}).data)

    @extend_schema(request=NewMemberSerializer, responses={201: MembershipSerializer})
    def post(self, request, vendor_id: int):
        """Create an account for a new annotator (or QA lead) of this vendor."""
        vendor = _vendor(request.user, vendor_id, manage=True)
        serializer = NewMemberSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        membership = workforce_services.add_vendor_member(
            vendor, handle=data["handle"], role=data["role"], email=data["email"],
            first_name=data["first_name"], last_name=data["last_name"], password=data["password"] or None,
        )
        return Response(
            MembershipSerializer(membership, context={"staffed": _staffed_projects(vendor)}).data,
            status=status.HTTP_201_CREATED,
        )


class VendorMemberDetailView(APIView):
    def _membership(self, request, vendor_id: int, membership_id: int) -> tuple[Vendor, Membership]:
        vendor = _vendor(request.user, vendor_id, manage=True)
        membership = get_object_or_404(Membership.objects.select_related("user"), pk=membership_id, vendor=vendor)
        if membership.role == Membership.Role.VENDOR_MANAGER and not request.user.is_staff:
            raise PermissionDenied("Vendor managers are changed by an admin.")
        return vendor, membership

    @extend_schema(request=MemberUpdateSerializer, responses={200: MembershipSerializer})
    def patch(self, request, vendor_id: int, membership_id: int):
        """Activate or deactivate a member (deactivating ends their staffing and open leases)."""
        vendor, membership = self._membership(request, vendor_id, membership_id)
        serializer = MemberUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data["is_active"]:
            membership.is_active = True
            membership.save(update_fields=["is_active"])
        else:
            membership = workforce_services.deactivate_membership(membership)
        return Response(MembershipSerializer(membership, context={"staffed": _staffed_projects(vendor)}).data)

    @extend_schema(responses={204: None})
    def delete(self, request, vendor_id: int, membership_id: int):
        """Remove a member from the vendor (kept as inactive: their past work stays attributed)."""
        _, membership = self._membership(request, vendor_id, membership_id)
        workforce_services.deactivate_membership(membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- projects and staffing ------------------------------------------------------------


class GrantedProjectSerializer(serializers.ModelSerializer):
    organization = serializers.CharField(source="organization.name")

    class Meta:
        model = Project
        fields = ["id", "name", "organization", "is_active", "replicas", "lease_seconds"]


class VendorProjectsView(APIView):
    @extend_schema(responses={200: GrantedProjectSerializer(many=True)})
    def get(self, request, vendor_id: int):
        """Projects granted to this vendor."""
        vendor = _vendor(request.user, vendor_id, supervise=True)
        projects = Project.objects.filter(vendors=vendor).select_related("organization").order_by("name")
        return Response(GrantedProjectSerializer(projects, many=True).data)


class StaffingSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    project_name = serializers.CharField(source="project.name", read_only=True)

    class Meta:
        model = ProjectAnnotator
        fields = ["id", "user", "username", "project", "project_name", "created_at", "qualification",
                  "qualification_result", "paused_at", "paused_reason"]
        read_only_fields = ["id", "username", "project_name", "created_at", "qualification", "qualification_result",
                            "paused_at", "paused_reason"]


class NewStaffingSerializer(serializers.Serializer):
    user = serializers.IntegerField(min_value=1)
    project = serializers.IntegerField(min_value=1)


class VendorStaffingView(APIView):
    @extend_schema(responses={200: StaffingSerializer(many=True)})
    def get(self, request, vendor_id: int):
        """Who of this vendor works on which project."""
        vendor = _vendor(request.user, vendor_id, supervise=True)
        staffing = ProjectAnnotator.objects.filter(vendor=vendor).select_related("user", "project")
        project_id = read(StaffingFilter, request.query_params).get("project")
        if project_id:
            staffing = staffing.filter(project_id=project_id)
        return Response(StaffingSerializer(staffing.order_by("project_id", "user__username"), many=True).data)

    @extend_schema(request=NewStaffingSerializer, responses={201: StaffingSerializer})
    def post(self, request, vendor_id: int):
        """Put one of the vendor's annotators on a project granted to the vendor."""
        vendor = _vendor(request.user, vendor_id, manage=True)
        serializer = NewStaffingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        staffing = workforce_services.staff_annotator(
            vendor, user_id=serializer.validated_data["user"], project_id=serializer.validated_data["project"],
            added_by=request.user,
        )
        staffing = ProjectAnnotator.objects.select_related("user", "project").get(pk=staffing.pk)
        return Response(StaffingSerializer(staffing).data, status=status.HTTP_201_CREATED)


class VendorStaffingDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, vendor_id: int, staffing_id: int):
        """Take an annotator off a project; their open lease there goes back to the pool."""
        vendor = _vendor(request.user, vendor_id, manage=True)
        staffing = get_object_or_404(ProjectAnnotator, pk=staffing_id, vendor=vendor)
        workforce_services.unstaff_annotator(staffing)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ResumeAnnotatorView(APIView):
    @extend_schema(request=None, responses={200: StaffingSerializer})
    def post(self, request, vendor_id: int, staffing_id: int):
        """Re-enable an annotator the project paused automatically (the pause stays on record)."""
        vendor = _vendor(request.user, vendor_id, manage=True)
        staffing = get_object_or_404(ProjectAnnotator, pk=staffing_id, vendor=vendor)
        workforce_services.resume_annotator(staffing, request.user)
        staffing = ProjectAnnotator.objects.select_related("user", "project").get(pk=staffing.pk)
        return Response(StaffingSerializer(staffing).data)


# --- numbers ---------------------------------------------------------------------------

PERIOD_PARAMETERS = [
    OpenApiParameter("date_from", str, description="First day (YYYY-MM-DD), inclusive."),
    OpenApiParameter("date_to", str, description="Last day (YYYY-MM-DD), inclusive."),
    OpenApiParameter("tz", str, description="IANA time zone the days are counted in (default UTC)."),
]


class AnnotatorStatsSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    tz = serializers.CharField()
    group_by = serializers.ListField(child=serializers.ChoiceField(choices=["day", "project"]))
    results = serializers.ListField(child=serializers.DictField(), help_text="One row per annotator and group.")


class AnnotatorStatsView(APIView):
    @extend_schema(
        parameters=[
            *PERIOD_PARAMETERS,
            OpenApiParameter("vendor", int), OpenApiParameter("project", int), OpenApiParameter("annotator", int),
            OpenApiParameter("group_by", str, description="day, project, or day,project (default)."),
        ],
        responses={200: AnnotatorStatsSerializer},
    )
    def get(self, request):
        """Per-annotator numbers over the caller's scope: submitted tasks, active time, medians,
        lease expiries, rejections, by day and/or project; and `quality` per annotator and project:
        leave-one-out OKS, gold OKS, per-keypoint bias, rejection rate, flags per 100 images."""
        filters = read(StatsFilter, request.query_params)
        period, group_by = filters["period"], filters["group_by"]
        scope = statistics_scope(request.user)
        for name, field in (("vendor", "vendor_id"), ("project", "project_id"), ("annotator", "annotator_id")):
            if name in filters:
                scope = scope.filter(**{field: filters[name]})
        return Response({
            "date_from": period.date_from, "date_to": period.date_to, "tz": str(period.tz), "group_by": group_by,
            "results": annotator_numbers(scope, period, group_by=group_by),
            # Quality per annotator and project over all their scored work (not limited to the period).
            "quality": quality_numbers(scope),
        })


class VendorTimesheetView(APIView):
    @extend_schema(parameters=PERIOD_PARAMETERS, responses={(200, "text/csv"): str})
    def get(self, request, vendor_id: int):
        """CSV timesheet of the vendor's work (one row per day, annotator and project): what the vendor bills."""
        vendor = _vendor(request.user, vendor_id, manage=True)
        period = read(TimesheetFilter, request.query_params)["period"]
        body = timesheets.timesheet_csv(statistics_scope(request.user).filter(vendor=vendor), period)
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        filename = f"timesheet-vendor{vendor.pk}-{period.date_from}-{period.date_to}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
