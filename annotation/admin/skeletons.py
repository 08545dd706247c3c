"""Admin: skeletons.

The change page edits a skeleton as one definition: the Skeleton form plus
its keypoint and edge inlines. Three things differ from a stock ModelAdmin:

- Validation spans the inlines. Edges and flip partners refer to keypoints
  by name, so the keypoint rows being submitted decide what an edge may name.
  Both formsets are checked with `validate_definition`, the rule the API and
  COCO import use, and an invalid definition saves nothing.
- Writing goes through `annotation.services.skeletons`. A skeleton used by
  annotations is frozen: `update_skeleton` writes the edit as a new version
  and leaves the old one, and what its annotations mean, untouched. The
  admin never saves keypoint or edge rows itself.
- The page shows a live SVG preview (drawn here for the first render and
  redrawn by `annotation/skeleton_admin.js` as rows are edited) and lets
  keypoints be reordered by dragging; without JavaScript the `order`
  numbers are edited directly.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import slugify

from ..models import Annotation, Keypoint, Skeleton, SkeletonEdge
from ..services import skeletons as skeleton_services

MAX_IMPORT_BYTES = 2 * 1024 * 1024  # a category is a few kB; anything bigger is the wrong file


# --- preview -----------------------------------------------------------------

PREVIEW_SIZE = 400
PREVIEW_PADDING = 24
PREVIEW_LABEL_LIMIT = 30  # more keypoints than this and names only show on hover
SIDE_COLORS = {"left": "#d62728", "right": "#2ca02c", "centre": "#1f77b4", "paired": "#9467bd"}


def keypoint_side(name: str, flip_partner: str = "") -> str:
    """left / right from the name (`skeleton_services.side_from_name`), else paired or centre."""
    return skeleton_services.side_from_name(name) or ("paired" if flip_partner else "centre")


def preview_geometry(keypoints: list[dict[str, Any]], edges: list[list[str]]) -> dict[str, Any]:
    """Where the preview draws each keypoint and edge, in SVG units.

    A keypoint with a `layout` sits at that normalized position; the others
    share a circle around the centre, in keypoint order. skeleton_admin.js
    applies the same rules when it redraws.
    """
    span = PREVIEW_SIZE - 2 * PREVIEW_PADDING
    unplaced = [i for i, kp in enumerate(keypoints) if not kp.get("layout")]
    normalized = {i: tuple(kp["layout"]) for i, kp in enumerate(keypoints) if kp.get("layout")}
    for j, i in enumerate(unplaced):
        angle = 2 * math.pi * j / len(unplaced) - math.pi / 2
        normalized[i] = (0.5 + 0.42 * math.cos(angle), 0.5 + 0.42 * math.sin(angle))
    points = []
    for i, kp in enumerate(keypoints):
        x, y = normalized[i]
        side = keypoint_side(kp["name"], kp.get("flip_partner", ""))
        points.append({
            "index": i, "name": kp["name"], "color": kp.get("color") or SIDE_COLORS[side], "side": side,
            "ring": SIDE_COLORS[side],
            "x": round(PREVIEW_PADDING + x * span, 2), "y": round(PREVIEW_PADDING + y * span, 2),
        })
    by_name = {p["name"]: p for p in points}
    lines = [
        {"source": a, "target": b, "x1": by_name[a]["x"], "y1": by_name[a]["y"],
         "x2": by_name[b]["x"], "y2": by_name[b]["y"]}
        for a, b in edges
        if a in by_name and b in by_name
    ]
    return {
        "size": PREVIEW_SIZE, "points": points, "lines": lines,
        "show_labels": len(points) <= PREVIEW_LABEL_LIMIT, "side_colors": SIDE_COLORS,
        # skeleton_admin.js redraws with the same rules: it reads these from the page.
        "rules": {"side_prefixes": skeleton_services.SIDE_PREFIXES, "side_colors": SIDE_COLORS},
    }


# --- inline forms ------------------------------------------------------------

class ColorInput(forms.TextInput):
    input_type = "color"


class KeypointForm(forms.ModelForm):
    class Meta:
        model = Keypoint
        fields = ["order", "name", "sigma", "color", "flip_partner", "layout_x", "layout_y"]
        widgets = {
            "order": forms.NumberInput(attrs={"class": "keypoint-order", "min": 0, "style": "width: 4em"}),
            "name": forms.TextInput(attrs={"class": "keypoint-name", "size": 18}),
            "sigma": forms.NumberInput(attrs={"step": "any", "style": "width: 6em"}),
            "color": ColorInput(),
            "flip_partner": forms.TextInput(attrs={"list": "skeleton-keypoint-names", "size": 18}),
            "layout_x": forms.NumberInput(attrs={"step": "any", "min": 0, "max": 1, "style": "width: 5em"}),
            "layout_y": forms.NumberInput(attrs={"step": "any", "min": 0, "max": 1, "style": "width: 5em"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["order"].required = False
        self.fields["order"].help_text = "Drag the handle, or edit the numbers: rows are saved in this order."

    def clean(self):
        data = super().clean()
        if (data.get("layout_x") is None) != (data.get("layout_y") is None):
            raise ValidationError("Give both layout x and y, or neither (the preview then places it on a circle).")
        return data

    def _get_validation_exclusions(self):
        # update_skeleton rewrites all rows of a skeleton at once, so checking a
        # row against the rows saved now (unique name, unique order) would only
        # reject reorders and renames. validate_definition checks the rows
        # being submitted against each other instead, with clearer messages.
        return super()._get_validation_exclusions() | {"skeleton", "sigma"}


class EdgeForm(forms.ModelForm):
    class Meta:
        model = SkeletonEdge
        fields = ["source", "target"]
        widgets = {
            "source": forms.TextInput(attrs={"list": "skeleton-keypoint-names", "size": 18}),
            "target": forms.TextInput(attrs={"list": "skeleton-keypoint-names", "size": 18}),
        }


class SkeletonPartFormSet(BaseInlineFormSet):
    """An inline formset of a skeleton; `siblings` lets it see the other part being submitted.

    SkeletonAdmin gives the keypoint and edge formsets of one request the same
    `siblings` dict (keyed by model), so the edge formset can check its rows
    against the keypoint names being submitted, not those saved.
    """

    siblings: dict | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.siblings is not None:
            self.siblings[self.model] = self

    def live_rows(self) -> list[dict[str, Any]]:
        """cleaned_data of the rows that will exist: filled in and not marked for deletion."""
        return [
            form.cleaned_data for form in self.forms
            if getattr(form, "cleaned_data", None) and not form.cleaned_data.get("DELETE")
        ]

    def validate_unique(self):
        """Duplicates are reported by validate_definition, naming the keypoint or edge."""

    @staticmethod
    def raise_definition_errors(definition: dict[str, Any], part: str) -> None:
        try:
            skeleton_services.validate_definition(definition)
        except ValidationError as exc:
            problems = exc.message_dict.get(part)
            if problems:
                raise ValidationError(problems) from exc


class KeypointFormSet(SkeletonPartFormSet):
    def definitions(self) -> list[dict[str, Any]]:
        """The keypoint rows as a definition's keypoints, sorted by `order` (blank last, ties by row)."""
        rows = sorted(
            enumerate(self.live_rows()),
            key=lambda item: (item[1].get("order") is None, item[1].get("order") or 0, item[0]),
        )
        result = []
        for _, row in rows:
            keypoint = {
                "name": row["name"], "sigma": row["sigma"], "color": (row.get("color") or "").lower(),
                "flip_partner": row.get("flip_partner") or "",
            }
            if row.get("layout_x") is not None and row.get("layout_y") is not None:
                keypoint["layout"] = [row["layout_x"], row["layout_y"]]
            result.append(keypoint)
        return result

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        self.raise_definition_errors({"name": "-", "keypoints": self.definitions(), "edges": []}, "keypoints")


class EdgeFormSet(SkeletonPartFormSet):
    def definitions(self) -> list[list[str]]:
        return [[row["source"], row["target"]] for row in self.live_rows()]

    def clean(self):
        super().clean()
        keypoints = (self.siblings or {}).get(Keypoint)
        if any(self.errors) or keypoints is None or any(keypoints.errors):
            return
        definition = {"name": "-", "keypoints": keypoints.definitions(), "edges": self.definitions()}
        self.raise_definition_errors(definition, "edges")


class KeypointInline(admin.TabularInline):
    model = Keypoint
    form = KeypointForm
    formset = KeypointFormSet
    fields = ["order", "name", "sigma", "color", "flip_partner", "layout_x", "layout_y"]
    classes = ["skeleton-keypoints"]

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj else 3


class EdgeInline(admin.TabularInline):
    model = SkeletonEdge
    form = EdgeForm
    formset = EdgeFormSet
    fields = ["source", "target"]
    classes = ["skeleton-edges"]
    verbose_name = "edge"
    verbose_name_plural = "edges"

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj else 3


# --- the skeleton form and list ----------------------------------------------

class SkeletonAdminForm(forms.ModelForm):
    class Meta:
        model = Skeleton
        fields = ["name", "supercategory", "description"]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if self.instance.pk is None:
            latest = Skeleton.objects.filter(name=name).order_by("-version").first()
            if latest is not None:
                raise ValidationError(
                    f"A skeleton named “{name}” already exists (latest: v{latest.version}). "
                    "Edit that one instead: a skeleton in use gets a new version automatically."
                )
        return name


def used_by_annotations():
    return Exists(Annotation.objects.filter(image__project__skeleton=OuterRef("pk")))


class FrozenListFilter(admin.SimpleListFilter):
    title = "frozen (used by annotations)"
    parameter_name = "frozen"

    def lookups(self, request, model_admin):
        return [("yes", "Frozen"), ("no", "Editable in place")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(used_by_annotations() if self.value() == "yes" else ~used_by_annotations())
        return queryset


class CocoCategoryImportForm(forms.Form):
    file = forms.FileField(required=False, label="COCO category file (.json)")
    text = forms.CharField(
        required=False, label="…or paste the JSON", widget=forms.Textarea(attrs={"rows": 14, "cols": 80}),
        help_text="One COCO category with `keypoints` and `skeleton`, optionally `sigmas`, `flip_pairs`, "
        "`colors` and `layout`. A whole COCO file works too when it has one keypoint category.",
    )

    def clean(self):
        data = super().clean()
        upload, text = data.get("file"), (data.get("text") or "").strip()
        if bool(upload) == bool(text):
            raise ValidationError("Upload a file or paste JSON (one of the two).")
        if upload:
            if upload.size > MAX_IMPORT_BYTES:
                raise ValidationError(
                    f"The file is {upload.size:,} bytes; a COCO category is a few kB "
                    f"(limit {MAX_IMPORT_BYTES:,}). Upload the category, not the annotations."
                )
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ValidationError("The file is not UTF-8 text; expected a JSON file.") from None
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"This is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).")
        data["category"] = self.pick_category(payload)
        return data

    @staticmethod
    def pick_category(payload: Any) -> Any:
        """The one category in a bare category, a one-item list, or a COCO file's `categories`."""
        if isinstance(payload, dict) and "categories" in payload and "keypoints" not in payload:
            payload = [c for c in payload["categories"] or [] if isinstance(c, dict) and c.get("keypoints")]
            if not payload:
                raise ValidationError("The COCO file has no category with keypoints.")
        if isinstance(payload, list):
            if len(payload) != 1:
                names = ", ".join(str(c.get("name")) for c in payload[:5] if isinstance(c, dict))
                raise ValidationError(
                    f"Found {len(payload)} categories ({names}); import them one at a time."
                    if payload else "The list is empty: expected one COCO category."
                )
            payload = payload[0]
        return payload


# --- ModelAdmin ---------------------------------------------------------------

@admin.register(Skeleton)
class SkeletonAdmin(admin.ModelAdmin):
    form = SkeletonAdminForm
    inlines = [KeypointInline, EdgeInline]
    list_display = ["name", "version", "keypoint_count", "frozen", "supercategory", "created_at"]
    list_filter = ["name", FrozenListFilter, "supercategory"]
    search_fields = ["name", "keypoints__name"]
    readonly_fields = ["version", "previous", "frozen_state", "created_at", "coco_json"]
    actions = ["export_coco"]
    fieldsets = [
        (None, {"fields": ["name", "version", "previous", "frozen_state", "supercategory", "description"]}),
        ("COCO category", {"classes": ["collapse"], "fields": ["coco_json"]}),
    ]

    class Media:
        js = ["annotation/skeleton_admin.js"]
        css = {"all": ["annotation/skeleton_admin.css"]}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            keypoint_total=Count("keypoints", distinct=True), is_used=used_by_annotations()
        )

    def get_readonly_fields(self, request, obj=None):
        # The name identifies the version family; a new name is a new skeleton.
        return ["name", *self.readonly_fields] if obj else self.readonly_fields

    def get_formsets_with_inlines(self, request, obj=None):
        siblings: dict = {}
        for formset_class, inline in super().get_formsets_with_inlines(request, obj):
            if issubclass(formset_class, SkeletonPartFormSet):
                formset_class = type(formset_class.__name__, (formset_class,), {"siblings": siblings})
            yield formset_class, inline

    def has_delete_permission(self, request, obj=None):
        if obj is not None and self._is_frozen(obj):
            return False  # annotations depend on it; projects protect it anyway
        return super().has_delete_permission(request, obj)

    # list columns

    @admin.display(description="keypoints", ordering="keypoint_total")
    def keypoint_count(self, obj):
        return obj.keypoint_total

    @admin.display(description="frozen", boolean=True, ordering="is_used")
    def frozen(self, obj):
        return obj.is_used

    @admin.display(description="frozen")
    def frozen_state(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        if self._is_frozen(obj):
            return "Yes: annotations use this version, so saving a change creates a new version."
        return "No: not used by any annotation yet, changes are saved in place."

    @admin.display(description="COCO category JSON")
    def coco_json(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        text = json.dumps(skeleton_services.to_coco_category(obj), indent=2)
        return format_html('<pre class="skeleton-coco-json">{}</pre>', text)

    @staticmethod
    def _is_frozen(obj) -> bool:
        used = getattr(obj, "is_used", None)
        return obj.is_frozen if used is None else used

    # change page

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        definition = skeleton_services.definition_of(obj) if obj else {"keypoints": [], "edges": []}
        context.update({
            "preview": preview_geometry(definition["keypoints"], definition["edges"]),
            "keypoint_names": [kp["name"] for kp in definition["keypoints"]],
            "skeleton_is_frozen": bool(obj and self._is_frozen(obj)),
            "next_version": (Skeleton.objects.filter(name=obj.name).order_by("-version").first().version + 1)
            if obj else None,
        })
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        """Nothing here: save_related writes the skeleton and its parts in one service call."""

    def save_related(self, request, form, formsets, change):
        parts = {formset.model: formset for formset in formsets}
        definition = {
            "name": form.cleaned_data.get("name", form.instance.name),
            "description": form.cleaned_data.get("description", ""),
            "supercategory": form.cleaned_data.get("supercategory", ""),
            "keypoints": parts[Keypoint].definitions(),
            "edges": parts[SkeletonEdge].definitions(),
        }
        obj = form.instance
        if not change:
            created = skeleton_services.create_skeleton(definition)
            obj.pk = created.pk
            obj.refresh_from_db()
            obj._state.adding = False
            obj.saved_as = obj
            return
        current = Skeleton.objects.get(pk=obj.pk)
        if skeleton_services.same_definition(skeleton_services.definition_of(current), definition):
            obj.saved_as = None
            return
        obj.saved_as = skeleton_services.update_skeleton(current, definition)
        if obj.saved_as.pk != obj.pk:
            self.log_addition(request, obj.saved_as, [{"added": {}}])

    def construct_change_message(self, request, form, formsets, add=False):
        if add:
            return [{"added": {}}]
        saved_as = getattr(form.instance, "saved_as", None)
        if saved_as is None:
            return "No changes."
        if saved_as.pk != form.instance.pk:
            return f"Saved as a new version, {saved_as}: this version is used by annotations."
        return "Changed the skeleton's definition."

    def response_change(self, request, obj):
        saved_as = getattr(obj, "saved_as", obj)
        if saved_as is not None and saved_as.pk != obj.pk:
            self.message_user(
                request,
                f"{obj} is used by annotations, so it was left unchanged and your edit was saved as "
                f"a new version, {saved_as}. Point projects at {saved_as} to use it.",
                messages.WARNING,
            )
            return HttpResponseRedirect(reverse("admin:annotation_skeleton_change", args=[saved_as.pk]))
        if saved_as is None and "_continue" not in request.POST:
            self.message_user(request, f"No changes to {obj}: nothing was saved.", messages.INFO)
            return HttpResponseRedirect(reverse("admin:annotation_skeleton_changelist"))
        return super().response_change(request, obj)

    # COCO out and in

    @admin.action(description="Export selected skeletons as COCO category JSON")
    def export_coco(self, request, queryset):
        skeletons = list(queryset.prefetch_related("keypoints", "edges").order_by("name", "version"))
        categories = [skeleton_services.to_coco_category(s) for s in skeletons]
        if len(categories) == 1:
            payload, filename = categories[0], f"{slugify(skeletons[0].name)}-v{skeletons[0].version}.json"
        else:
            payload, filename = categories, "skeletons-coco-categories.json"
        response = HttpResponse(json.dumps(payload, indent=2), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_import_coco"
        return [
            path("import-coco/", self.admin_site.admin_view(self.import_coco_view), name=name),
            *super().get_urls(),
        ]

    def import_coco_view(self, request):
        """Create a skeleton from an uploaded or pasted COCO category (`import_coco_category`)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CocoCategoryImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            category = form.cleaned_data["category"]
            existing = isinstance(category, dict) and Skeleton.objects.filter(
                name=str(category.get("name") or "").strip()
            ).exists()
            try:
                with transaction.atomic():
                    skeleton, warnings = skeleton_services.import_coco_category(category)
            except ValidationError as exc:
                for problem in _named_problems(exc):
                    form.add_error(None, problem)
            else:
                self.log_addition(request, skeleton, "Imported from a COCO category.")
                self.message_user(request, f"Imported {skeleton} with {skeleton.keypoints.count()} keypoints.")
                if existing:
                    warnings = [f"A skeleton named “{skeleton.name}” existed already: "
                                f"this import is its version {skeleton.version}.", *warnings]
                for warning in warnings:
                    self.message_user(request, warning, messages.WARNING)
                return HttpResponseRedirect(reverse("admin:annotation_skeleton_change", args=[skeleton.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Import COCO category",
            "form": form,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/annotation/skeleton/import_coco.html", context)


def _named_problems(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [f"{field}: {message}" for field, problems in exc.message_dict.items() for message in problems]
    return list(exc.messages)
