"""The task payload (api/tasks.py `task_payload`) described for the OpenAPI document.

The payload is built as a dict on the hot path (no serializer runs per
request); these serializers only say what it holds, so the schema's
clients and schemathesis can check every response against it.
"""

from rest_framework import serializers


class TaskImageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField(allow_null=True)
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class TaskInstructionsSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField(allow_null=True)
    url = serializers.URLField()
    acknowledge_url = serializers.URLField()


class TaskSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField()
    state = serializers.CharField()
    leased_at = serializers.DateTimeField()
    lease_expires_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    image = TaskImageSerializer()
    skeleton = serializers.DictField(help_text="The skeleton as the workspace draws it: keypoints, edges, flips.")
    prelabels = serializers.ListField(child=serializers.DictField(), allow_null=True)
    instructions = TaskInstructionsSerializer(allow_null=True)
    draft = serializers.JSONField(allow_null=True)
    active_ms = serializers.IntegerField()
    annotation = serializers.DictField(required=False, help_text="The caller's submitted labels, once submitted.")
