"""Admin pages: register versions (through the same checks as the API), runs, and the leaderboard."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from .models import Evaluation, ModelVersion, PrelabelRun
from .services.registry import register_model_version

EDITABLE_AFTER_CHECKS = ("description", "status", "score_threshold", "below_threshold_visibility")


class ModelVersionAddForm(forms.ModelForm):
    """Adding a version runs every upload check; a version that fails one is not stored at all.

    The service does the whole add (checks, then the row and file in one
    transaction) from clean(), so its errors land on the form's fields; the
    admin's save_model then only adopts the stored row.
    """

    class Meta:
        model = ModelVersion
        exclude = ["sha256", "file_size", "check_report", "checked_at", "created_by", "status"]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        fields = {k: v for k, v in cleaned.items() if k != "weights" and k in {f.name for f in ModelVersion._meta.fields}}
        try:
            self.registered = register_model_version(fields, upload=cleaned.get("weights") or None,
                                                     created_by=self.current_user)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return cleaned

    def _post_clean(self):
        # Once the service stored the version, the form's own model validation would only
        # find that row and call it a duplicate; the service already validated everything.
        if getattr(self, "registered", None) is None:
            super()._post_clean()


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "skeleton", "runtime", "decoding", "status", "checked_at", "created_at")
    list_filter = ("runtime", "status", "decoding")
    search_fields = ("name", "description")
    raw_id_fields = ("skeleton",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ModelVersionAddForm
            form = super().get_form(request, obj, change=change, **kwargs)
            form.current_user = request.user
            return form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [f.name for f in ModelVersion._meta.fields if f.name not in EDITABLE_AFTER_CHECKS]

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=list(EDITABLE_AFTER_CHECKS))
            return
        obj.__dict__.update({k: v for k, v in form.registered.__dict__.items() if k != "_state"})
        obj._state.adding = False


@admin.register(PrelabelRun)
class PrelabelRunAdmin(admin.ModelAdmin):
    list_display = ("model_version", "project", "job", "cancel_requested", "created_by", "created_at")
    list_filter = ("cancel_requested",)
    readonly_fields = [f.name for f in PrelabelRun._meta.fields if f.name != "cancel_requested"]


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    """The leaderboard: filter by project, best AP first."""

    list_display = ("project", "model_version", "ap", "ap50", "ap75", "apm", "apl", "ar", "pck_005", "pck_010",
                    "evaluated_at")
    list_filter = ("project",)
    ordering = ("project", "-ap")
    readonly_fields = [f.name for f in Evaluation._meta.fields]

    def has_add_permission(self, request):
        return False
