from django.contrib import admin

from .models import JobRun


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = ("description", "queue", "state", "progress", "created_by", "created_at", "finished_at")
    list_filter = ("state", "queue")
    search_fields = ("description", "func", "id")
    readonly_fields = [f.name for f in JobRun._meta.fields]
