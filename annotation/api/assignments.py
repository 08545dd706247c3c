"""`/api/v1/assignments/`: the caller's own assignments; draft, heartbeat, submit, release.

Only ever the caller's own rows (`access.own_assignments`): another
annotator's assignment is a 404, whoever asks. Changing one also needs the
caller to still be staffed on its project, so a removed annotator cannot
keep submitting.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from .. import engine
from ..access import own_assignment_to_work_on, own_assignments
from ..models import Assignment
from ..services.skeleton_cache import skeleton_spec
from .authentication import ENGINE_AUTHENTICATION
from .filters import AssignmentFilter, read
from .task_schema import TaskSerializer
from .tasks import task_payload

#: A week of active time is more than any one image takes: a larger figure is a client bug.
MAX_ACTIVE_MS = 7 * 24 * 3600 * 1000


class ActiveTimeField(serializers.IntegerField):
    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(min_value=0, max_value=MAX_ACTIVE_MS, **kwargs)


class AssignmentSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Assignment
        fields = [
            "id", "project", "image", "state", "leased_at", "lease_expires_at", "submitted_at", "released_at",
            "active_ms", "instance_count", "instructions_version",
        ]


class DraftSerializer(serializers.Serializer):
    draft = serializers.JSONField(allow_null=True)
    active_ms = ActiveTimeField(help_text="Running total of active milliseconds on this task, as the client measured it.")


class HeartbeatSerializer(serializers.Serializer):
    active_ms = ActiveTimeField()


class SubmitSerializer(serializers.Serializer):
    instances = serializers.JSONField(help_text="List of {bbox: [x, y, w, h], keypoints: [x1, y1, v1, ...]}.")
    active_ms = ActiveTimeField()

    def validate_instances(self, value):
        if not isinstance(value, list):
            raise serializers.ValidationError("Expected a list of instances.")
        return value


class ReleaseSerializer(serializers.Serializer):
    active_ms = ActiveTimeField()


class SubmitResultSerializer(serializers.Serializer):
    """`_submit_result`, for the schema (header Idempotent-Replayed: true on a replay)."""

    id = serializers.IntegerField()
    state = serializers.CharField()
    annotation = serializers.IntegerField()
    submitted_at = serializers.DateTimeField()
    instance_count = serializers.IntegerField()
    active_ms = serializers.IntegerField()


class AssignmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = AssignmentSummarySerializer
    authentication_classes = ENGINE_AUTHENTICATION

    def get_queryset(self):
        queryset = own_assignments(self.request.user).select_related(
            "image", "project__skeleton", "project__instructions"
        ).order_by("-leased_at", "-id")
        if self.action != "list":
            return queryset
        filters = read(AssignmentFilter, self.request.query_params)
        if "project" in filters:
            queryset = queryset.filter(project_id=filters["project"])
        if filters.get("state"):
            queryset = queryset.filter(state__in=filters["state"])
        return queryset

    def _workable(self) -> Assignment:
        """The caller's assignment for a change, in one prepared query (the submit path is hot)."""
        assignment = own_assignment_to_work_on(self.request.user, self.kwargs["pk"])
        if assignment is None:
            raise NotFound("No such assignment.")
        if not assignment.workable:
            raise PermissionDenied("You no longer work on this project; this assignment is read-only.")
        return assignment

    def _payload(self, assignment: Assignment) -> dict:
        payload = task_payload(self.request, assignment, assignment.project)
        if assignment.annotation_id:
            payload["annotation"] = {"id": assignment.annotation_id, "instances": assignment.annotation.instances}
        return payload

    @extend_schema(responses={200: TaskSerializer})
    def retrieve(self, request, *args, **kwargs):
        """The task as the workspace needs it, with the caller's own submitted labels if any."""
        assignment = self.get_object()
        if assignment.annotation_id:
            assignment = self.get_queryset().select_related("annotation").get(pk=assignment.pk)
        return Response(self._payload(assignment))

    @extend_schema(request=DraftSerializer, responses={200: TaskSerializer})
    def update(self, request, *args, **kwargs):
        """Save a draft: work in progress, stored as given. Counts as activity for active time."""
        assignment = self._workable()
        serializer = DraftSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assignment = engine.save_draft(
            assignment, serializer.validated_data["draft"], client_active_ms=serializer.validated_data.get("active_ms")
        )
        return Response(self._payload(assignment))

    @extend_schema(request=HeartbeatSerializer, responses={200: AssignmentSummarySerializer})
    @action(detail=True, methods=["post"])
    def heartbeat(self, request, pk=None):
        """The annotator is working: send at least once per idle limit so active time keeps counting."""
        assignment = self._workable()
        serializer = HeartbeatSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assignment = engine.heartbeat(assignment, client_active_ms=serializer.validated_data.get("active_ms"))
        return Response(AssignmentSummarySerializer(assignment).data)

    @extend_schema(request=SubmitSerializer, responses={200: SubmitResultSerializer})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        """Validate and store the labels. Retrying with the same instances returns the same result."""
        assignment = self._workable()
        serializer = SubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result, replayed = submit_labels(
            assignment, serializer.validated_data["instances"], serializer.validated_data.get("active_ms"),
        )
        response = Response(result)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    @extend_schema(request=ReleaseSerializer, responses={200: AssignmentSummarySerializer})
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        """Give the image back to the pool; you will not be given it again."""
        assignment = self.get_object()
        serializer = ReleaseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assignment = engine.release_assignment(assignment, client_active_ms=serializer.validated_data.get("active_ms"))
        return Response(AssignmentSummarySerializer(assignment).data)


def submit_labels(assignment: Assignment, instances: list, active_ms: int | None) -> tuple[dict, bool]:
    """Submit, for an assignment read by `own_assignment_to_work_on`: (response body, replayed?)."""
    assignment, created = engine.submit_assignment(
        assignment, instances, client_active_ms=active_ms,
        spec=skeleton_spec(assignment.project.skeleton_id, assignment.skeleton_updated_at),
        image_size=(assignment.image_width, assignment.image_height),
    )
    return _submit_result(assignment), not created


def _submit_result(assignment: Assignment) -> dict:
    """The same body for the first submit and every replay of it."""
    return {
        "id": assignment.pk,
        "state": assignment.state,
        "annotation": assignment.annotation_id,
        "submitted_at": assignment.submitted_at,
        "instance_count": assignment.instance_count,
        "active_ms": assignment.active_ms,
    }
