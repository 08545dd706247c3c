"""Admin: instructions.

Guidelines are markdown with good and bad example images. Annotators
acknowledge a *version*, so saving goes through
`annotation.services.instructions.save_instructions`: the version goes up
exactly when the title, body or examples change, and the text it replaces is
archived (listed read-only on the page). A change is stored after the
example inline, so an edit of text and images together makes one version.
"""

from django.contrib import admin, messages
from django.db.models import Count
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ..models import InstructionExample, Instructions, InstructionsRevision
from ..services.instructions import render_markdown, save_instructions


class InstructionExampleInline(admin.TabularInline):
    model = InstructionExample
    fields = ["image", "thumbnail", "kind", "caption", "order"]
    readonly_fields = ["thumbnail"]
    extra = 1

    @admin.display(description="preview")
    def thumbnail(self, obj):
        if not obj.pk or not obj.image:
            return "—"
        return format_html('<img src="{}" alt="{}" class="instruction-thumbnail">', obj.image.url, obj.caption)


class InstructionsRevisionInline(admin.TabularInline):
    """Earlier versions, as annotators saw them: an archive, never edited."""

    model = InstructionsRevision
    fields = ["version", "title", "text", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "earlier version"
    verbose_name_plural = "earlier versions"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="text (markdown)")
    def text(self, obj):
        return format_html(
            "<details><summary>{} characters</summary><pre class=\"instructions-revision-body\">{}</pre></details>",
            len(obj.body), obj.body,
        )


@admin.register(Instructions)
class InstructionsAdmin(admin.ModelAdmin):
    list_display = ["title", "organization", "version", "example_count", "updated_at"]
    list_filter = ["organization"]
    search_fields = ["title", "body"]
    readonly_fields = ["version", "preview", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["organization", "title", "version", "body"]}),
        ("Current version as annotators see it", {"fields": ["preview"]}),
    ]
    inlines = [InstructionExampleInline, InstructionsRevisionInline]

    class Media:
        css = {"all": ["annotation/instructions_admin.css"]}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(example_total=Count("examples"))

    @admin.display(description="examples", ordering="example_total")
    def example_count(self, obj):
        return obj.example_total

    @admin.display(description="preview")
    def preview(self, obj):
        if obj is None or obj.pk is None:
            return "Saved instructions are shown here as annotators see them."
        body = mark_safe(render_markdown(obj.body))  # sanitized by nh3 in render_markdown
        examples = format_html_join(
            "",
            '<figure class="instruction-example instruction-example-{}"><img src="{}" alt="{}">'
            "<figcaption><strong>{}</strong> {}</figcaption></figure>",
            (
                (example.kind, example.image.url, example.caption, example.get_kind_display(), example.caption)
                for example in obj.examples.all()
                if example.image
            ),
        )
        return format_html(
            '<div class="instructions-preview">{}<div class="instruction-examples">{}</div></div>', body, examples
        )

    def save_model(self, request, obj, form, change):
        """New instructions are stored here (version 1); a change waits for save_related."""
        if not change:
            save_instructions(obj)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not change:
            return
        examples_changed = any(
            formset.new_objects or formset.changed_objects or formset.deleted_objects
            for formset in formsets
            if formset.model is InstructionExample
        )
        previous = form.instance.version
        if save_instructions(form.instance, examples_changed=examples_changed):
            self.message_user(
                request,
                f"Saved as version {form.instance.version}; version {previous} is archived under “earlier "
                "versions”. Annotators acknowledge the new version before their next task.",
                messages.INFO,
            )
