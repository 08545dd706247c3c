import json

from rest_framework import serializers

from annotation.models import Skeleton

from ..models import Evaluation, ModelVersion, PrelabelRun



class JSONValueField(serializers.JSONField):
    """A JSON value sent as JSON (application/json) or as JSON text (a multipart form field)."""

    def to_internal_value(self, data):
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except ValueError:
                self.fail("invalid")
        return super().to_internal_value(data)


class ModelVersionSerializer(serializers.ModelSerializer):
    """A model version as the API shows it; create takes the same fields plus the `weights` file."""

    skeleton = serializers.PrimaryKeyRelatedField(queryset=Skeleton.objects.all())
    output_keypoints = JSONValueField(required=False)
    keypoint_mapping = JSONValueField(required=False)
    mean = JSONValueField(required=False)
    std = JSONValueField(required=False)
    options = JSONValueField(required=False)
    weights = serializers.FileField(write_only=True, required=False)
    has_weights = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id", "name", "version", "skeleton", "runtime", "description", "status",
            "output_keypoints", "keypoint_mapping", "callable_path", "preset", "options",
            "mode", "input_width", "input_height", "mean", "std", "channel_order", "box_padding",
            "decoding", "simcc_split_ratio", "coordinates_normalized", "score_threshold",
            "below_threshold_visibility", "weights", "has_weights", "sha256", "file_size",
            "check_report", "checked_at", "created_at",
        ]
        read_only_fields = ["status", "sha256", "file_size", "check_report", "checked_at", "created_at"]
        # The (name, version) pair is checked by the service, with the message people need.
        validators = []

    def get_has_weights(self, obj) -> bool:
        return bool(obj.weights)

    def validate(self, attrs):
        for name in ("output_keypoints", "mean", "std"):
            if name in attrs and not isinstance(attrs[name], list):
                raise serializers.ValidationError({name: ["Expected a JSON list."]})
        for name in ("keypoint_mapping", "options"):
            if name in attrs and not isinstance(attrs[name], dict):
                raise serializers.ValidationError({name: ["Expected a JSON object."]})
        if len(attrs.get("output_keypoints") or []) > 1000:
            raise serializers.ValidationError({"output_keypoints": ["At most 1000 keypoints."]})
        return attrs


class ModelVersionUpdateSerializer(serializers.ModelSerializer):
    """What may change on a checked version: nothing that would invalidate its checks."""

    class Meta:
        model = ModelVersion
        fields = ["description", "status", "score_threshold", "below_threshold_visibility"]


class JobRequestSerializer(serializers.Serializer):
    project = serializers.IntegerField(min_value=1)
    options = serializers.DictField(required=False, default=dict)


class PrelabelRunSerializer(serializers.ModelSerializer):
    job_url = serializers.SerializerMethodField()

    class Meta:
        model = PrelabelRun
        fields = ["id", "model_version", "project", "job", "job_url", "options", "cancel_requested", "created_at"]

    def get_job_url(self, obj) -> str | None:
        request = self.context.get("request")
        return request.build_absolute_uri(f"/api/v1/jobs/{obj.job_id}/") if obj.job_id and request else None


class EvaluationSerializer(serializers.ModelSerializer):
    model = serializers.SerializerMethodField()

    class Meta:
        model = Evaluation
        fields = ["id", "model", "project", "ap", "ap50", "ap75", "apm", "apl", "ar", "pck_005", "pck_010",
                  "metrics", "options", "evaluated_at"]

    def get_model(self, obj) -> dict:
        v = obj.model_version
        return {"id": v.pk, "name": v.name, "version": v.version, "runtime": v.runtime}
