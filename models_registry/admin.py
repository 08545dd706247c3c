from django.contrib import admin

from .models import PoseModel


@admin.register(PoseModel)
class PoseModelAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "skeleton", "framework", "created_at")
    list_filter = ("framework",)
    search_fields = ("name",)
