"""Admin: projects, images, annotations.

Projects are configured here and saved through the project services, so the
admin enforces what the API enforces (a skeleton cannot change under existing
annotations). Images and annotations are not added here: images come in
through the hardened upload (API) or `register_images`, annotations through
the workflow or a COCO import, because those paths validate what they store.
Both stay browsable, filterable and deletable.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import StreamingHttpResponse
from django.utils.html import format_html

from ..image_urls import image_file_url
from ..models import Annotation, Image, Project
from ..services import image_status
from ..services import projects as project_services
from ..services.coco_export import ExportSelection, coco_chunks


class ProjectAdminForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = "__all__"

    def clean_skeleton(self):
        skeleton = self.cleaned_data["skeleton"]
        project = self.instance
        if project.pk and skeleton.pk != project.skeleton_id and Annotation.objects.filter(image__project=project).exists():
            raise ValidationError("The project already has annotations of its skeleton; create a new project instead.")
        return skeleton


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectAdminForm
    list_display = (
        "name", "organization", "skeleton", "replicas", "auto_accept_oks", "review_sample_rate", "gold_rate",
        "image_total", "accepted_total", "is_active", "created_at",
    )
    list_filter = ("is_active", "organization")
    search_fields = ("name", "organization__name")
    list_select_related = ("organization", "skeleton")
    raw_id_fields = ("skeleton", "instructions", "prelabel_model")
    filter_horizontal = ("vendors",)
    readonly_fields = ("created_at", "updated_at")
    # review/admin.py adds "Estimate sigmas" (a scoring job): annotation does not import review.
    actions = ["export_accepted_coco"]
    fieldsets = (
        (None, {"fields": ("organization", "name", "description", "skeleton", "instructions", "is_active")}),
        ("Workflow", {"fields": (
            "replicas", "max_replicas", "lease_seconds", "idle_limit_seconds", "auto_accept_oks", "review_sample_rate",
            "spot_check_share", "gold_rate",
        )}),
        ("Qualification and pausing", {"fields": (
            "qualification_images", "qualification_oks", "pause_gold_oks", "pause_loo_oks", "pause_window",
        )}),
        ("Pre-labels", {"fields": ("prelabel_model", "show_prelabels")}),
        ("Workforce", {"fields": ("vendors",)}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            image_total=Count("images", distinct=True),
            accepted_total=Count("images", filter=Q(images__status=Image.Status.ACCEPTED), distinct=True),
        )

    @admin.display(description="Images", ordering="image_total")
    def image_total(self, project):
        return project.image_total

    @admin.display(description="Accepted", ordering="accepted_total")
    def accepted_total(self, project):
        return project.accepted_total

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in project_services.EDITABLE_FIELDS if name in form.cleaned_data}
        if change:
            saved = project_services.update_project(obj, **fields)
        else:
            saved = project_services.create_project(
                organization=form.cleaned_data["organization"], **fields
            )
        obj.pk = saved.pk  # save_related() then sets the vendors on it

    @admin.action(description="Export accepted ground truth as COCO (one project)")
    def export_accepted_coco(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one project to export.", level="error")
            return None
        project = queryset.select_related("skeleton").first()
        response = StreamingHttpResponse(coco_chunks(project, ExportSelection()), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="project-{project.pk}-accepted.coco.json"'
        return response


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("id", "file_name", "project", "status", "is_gold", "width", "height", "created_at")
    list_filter = ("status", "is_gold", "project")
    search_fields = ("file_name", "=sha256", "=id")
    list_select_related = ("project",)
    raw_id_fields = ("project",)
    readonly_fields = (
        "project", "file", "preview", "status", "allowed_transitions", "file_name", "width", "height", "sha256",
        "coco_id", "created_at",
    )
    fields = readonly_fields[:5] + ("is_gold", "priority") + readonly_fields[5:]
    show_full_result_count = False  # a project has hundreds of thousands of images

    # Status is read-only: it changes only along the state machine's table, one action per transition.
    actions = [f"transition_{t.name}" for t in image_status.TRANSITIONS]

    def get_action(self, action):
        if isinstance(action, str) and action.startswith("transition_"):
            transition = image_status.BY_NAME.get(action.removeprefix("transition_"))
            if transition is not None:
                return self._transition_action(transition), action, f"{transition.label} ({transition.source} \u2192 {transition.target})"
        return super().get_action(action)

    @staticmethod
    def _transition_action(transition: image_status.Transition):
        def run(modeladmin, request, queryset):
            selected = queryset.count()
            moved = image_status.apply(transition, queryset)
            level = messages.SUCCESS if moved == selected else messages.WARNING
            modeladmin.message_user(
                request, f"{transition.label}: {moved} of {selected} image(s) moved from {transition.source} to "
                f"{transition.target}; the others were not in {transition.source}.", level=level,
            )
        return run

    @admin.display(description="Allowed transitions")
    def allowed_transitions(self, image):
        allowed = image_status.targets_from(image.status)
        return ", ".join(f"{t.label} \u2192 {t.target}" for t in allowed) or "none"

    def has_add_permission(self, request):
        return False  # uploads go through the hardened API or `manage.py register_images`

    @admin.display(description="Preview")
    def preview(self, image):
        if not image.file:
            return "(no file: created from a COCO file without image_root)"
        return format_html('<img src="{}" style="max-width: 480px; max-height: 360px">', image_file_url(image))


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ("id", "image", "source", "annotator", "instance_count", "version", "updated_at")
    list_filter = ("source",)
    search_fields = ("=image__id", "image__file_name", "annotator__username")
    list_select_related = ("image", "annotator")
    raw_id_fields = ("image", "annotator", "pose_model")
    readonly_fields = (
        "image", "source", "annotator", "pose_model", "pretty_instances", "version", "created_at", "updated_at",
    )
    exclude = ("instances",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # annotations are validated by the workflow and the COCO import, not typed in

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Instances")
    def instance_count(self, annotation):
        return len(annotation.instances or [])

    @admin.display(description="Instances")
    def pretty_instances(self, annotation):
        return format_html("<pre>{}</pre>", json.dumps(annotation.instances, indent=1))
