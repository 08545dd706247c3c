"""Admin: organizations, vendors, memberships, staffing, assignments, acknowledgements, annotator numbers.

State changes go through the same services as the API (releasing leases,
deactivating members, reclaiming overdue leases), so the admin cannot break
the engine's counters. Assignments are read-only here: an annotator's labels
and times are evidence, not something to edit by hand.
"""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from jointly.query_params import parse_id

from ..models import Assignment, InstructionsAcknowledgement, Membership, Organization, ProjectAnnotator, Vendor
from .. import engine
from ..services import timesheets
from ..services import workforce as workforce_services
from ..stats import annotator_numbers, parse_grouping, parse_period


class OrganizationMembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "organization"
    fields = ("user", "role", "is_active", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)
    extra = 0


class VendorMembershipInline(OrganizationMembershipInline):
    fk_name = "vendor"


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)
    inlines = [OrganizationMembershipInline]


@admin.register(Vendor)
class VendorAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at", "timesheet_link")
    search_fields = ("name",)
    filter_horizontal = ("organizations",)
    inlines = [VendorMembershipInline]

    @admin.display(description="Numbers")
    def timesheet_link(self, vendor):
        from django.utils.html import format_html

        url = reverse("admin:annotation_assignment_numbers") + f"?vendor={vendor.pk}"
        return format_html('<a href="{}">annotator numbers</a>', url)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "organization", "vendor", "is_active", "created_at")
    list_select_related = ("user", "organization", "vendor")
    list_filter = ("role", "is_active", "vendor", "organization")
    search_fields = ("user__username", "user__email", "vendor__name", "organization__name")
    autocomplete_fields = ("user", "organization", "vendor")
    actions = ["deactivate"]

    @admin.action(description="Deactivate (ends staffing and releases open leases)")
    def deactivate(self, request, queryset):
        for membership in queryset.filter(is_active=True):
            workforce_services.deactivate_membership(membership)
        self.message_user(request, "Deactivated.", messages.SUCCESS)


class ProjectAnnotatorForm(forms.ModelForm):
    class Meta:
        model = ProjectAnnotator
        fields = ["project", "user", "vendor"]

    def clean(self):
        cleaned = super().clean()
        project, user, vendor = cleaned.get("project"), cleaned.get("user"), cleaned.get("vendor")
        if project and user and vendor:
            for field, messages in workforce_services.staffing_errors(
                vendor, user_id=user.pk, project_id=project.pk
            ).items():
                self.add_error(field, messages)
        return cleaned


@admin.register(ProjectAnnotator)
class ProjectAnnotatorAdmin(admin.ModelAdmin):
    form = ProjectAnnotatorForm
    list_display = ("user", "project", "vendor", "added_by", "created_at")
    list_select_related = ("user", "project", "vendor", "added_by")
    list_filter = ("vendor", "project")
    search_fields = ("user__username", "project__name", "vendor__name")
    autocomplete_fields = ("user", "vendor")
    readonly_fields = ("added_by", "created_at")

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        created = workforce_services.staff_annotator(
            obj.vendor, user_id=obj.user_id, project_id=obj.project_id, added_by=request.user
        )
        obj.pk = created.pk

    def delete_model(self, request, obj):
        workforce_services.unstaff_annotator(obj)

    def delete_queryset(self, request, queryset):
        for staffing in queryset:
            workforce_services.unstaff_annotator(staffing)


class LeaseOverdueFilter(admin.SimpleListFilter):
    title = "lease"
    parameter_name = "lease"

    def lookups(self, request, model_admin):
        return [("overdue", "open and past its expiry")]

    def queryset(self, request, queryset):
        if self.value() == "overdue":
            return queryset.filter(state=Assignment.State.LEASED, lease_expires_at__lt=timezone.now())
        return queryset


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    change_list_template = "admin/annotation/assignment/change_list.html"
    list_display = (
        "id", "annotator", "vendor", "project", "image", "state", "leased_at", "lease_expires_at", "submitted_at",
        "active_ms",
    )
    list_filter = ("state", LeaseOverdueFilter, "vendor", "project")
    search_fields = ("annotator__username", "=image__id", "=id")
    date_hierarchy = "leased_at"
    list_select_related = ("annotator", "vendor", "project", "image")
    actions = ["release_leases", "reclaim_overdue_leases"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Assignment._meta.fields]

    def has_add_permission(self, request):
        return False  # leases come from the engine, never by hand

    @admin.action(description="Release the selected open leases")
    def release_leases(self, request, queryset):
        released = 0
        for assignment in queryset.filter(state=Assignment.State.LEASED).select_related("project", "image"):
            engine.release_assignment(assignment)
            released += 1
        self.message_user(request, f"Released {released} lease(s).", messages.SUCCESS)

    @admin.action(description="Reclaim every overdue lease (all projects)")
    def reclaim_overdue_leases(self, request, queryset):
        count = engine.expire_overdue_leases()
        self.message_user(request, f"Marked {count} overdue lease(s) expired.", messages.SUCCESS)

    def get_urls(self):
        return [
            path("numbers/", self.admin_site.admin_view(self.numbers_view), name="annotation_assignment_numbers"),
            *super().get_urls(),
        ]

    def numbers_view(self, request):
        """Per-annotator numbers (the API's figures) with a CSV download, filtered by vendor and period."""
        from django.core.exceptions import ValidationError

        errors = []
        rows = []
        scope = Assignment.objects.all()
        vendor_id = parse_id(request.GET.get("vendor") or "")
        if vendor_id is not None:
            scope = scope.filter(vendor_id=vendor_id)
        try:
            period = parse_period(request.GET)
            group_by = parse_grouping(request.GET.get("group_by"))
        except ValidationError as exc:
            errors = [f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()]
            period, group_by = parse_period({}), parse_grouping(None)
        if request.GET.get("format") == "csv" and not errors:
            response = HttpResponse(timesheets.timesheet_csv(scope, period), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="timesheet-{period.date_from}-{period.date_to}.csv"'
            return response
        if not errors:
            rows = annotator_numbers(scope, period, group_by=group_by)
        context = {
            **self.admin_site.each_context(request),
            "title": "Annotator numbers",
            "opts": self.model._meta,
            "rows": rows,
            "errors": errors,
            "period": period,
            "group_by": group_by,
            "vendors": Vendor.objects.order_by("name"),
            "vendor_id": vendor_id,
            "csv_query": request.GET.urlencode(),
        }
        return TemplateResponse(request, "admin/annotation/annotator_numbers.html", context)


@admin.register(InstructionsAcknowledgement)
class InstructionsAcknowledgementAdmin(admin.ModelAdmin):
    list_display = ("user", "instructions", "version", "project", "acknowledged_at")
    list_select_related = ("user", "instructions", "project")
    list_filter = ("instructions",)
    search_fields = ("user__username", "instructions__title")
    date_hierarchy = "acknowledged_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in InstructionsAcknowledgement._meta.fields]

    def has_add_permission(self, request):
        return False  # an acknowledgement is the annotator's own act
