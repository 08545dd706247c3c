"""Review queue API: next task, the full picture of a task, decisions, lease renew/release, image history.

Thin views: parse, call one service, shape the answer. Review endpoints
answer 404 to anyone outside the task's project (annotators included:
blind annotation means they must not even learn that a task exists).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Image

from .models import ReviewDecision, ReviewTask
from .selectors import image_history, review_picture, review_projects, reviewable_images, visible_review_tasks
from .services.decisions import MAX_COMMENTS, DecisionInput, decide
from .services.gold import promote_to_gold
from .services.queue import next_review, release_review_lease, renew_review_lease


class DecideSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=ReviewDecision.Action.choices)
    version = serializers.IntegerField(min_value=1, help_text="The task version you read (optimistic lock).")
    annotator = serializers.IntegerField(required=False, help_text="accept_annotation: whose labels to accept.")
    instances = serializers.JSONField(required=False, help_text="edit: the corrected instances.")
    comments = serializers.ListField(
        child=serializers.DictField(), required=False, max_length=MAX_COMMENTS,
        help_text="reject: [{annotator, instance, keypoint, x?, y?, text}] pinned to one annotator's labels.",
    )
    annotators = serializers.ListField(
        child=serializers.IntegerField(), required=False, max_length=50,
        help_text="reject: whose labels go back (default: the annotators the comments name).",
    )
    reassign = serializers.BooleanField(required=False, default=False,
                                        help_text="reject: give the image to new annotators instead.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)

    def validate(self, data):
        action = data["action"]
        if action == ReviewDecision.Action.ACCEPT_ANNOTATION and data.get("annotator") is None:
            raise serializers.ValidationError({"annotator": ["accept_annotation needs the annotator's user id."]})
        if action == ReviewDecision.Action.EDIT and "instances" not in data:
            raise serializers.ValidationError({"instances": ["edit needs the corrected instances."]})
        if action == ReviewDecision.Action.REJECT and not data.get("comments"):
            raise serializers.ValidationError({"comments": ["reject needs at least one comment saying what to fix."]})
        return data


def task_response(task: ReviewTask, code=status.HTTP_200_OK) -> Response:
    return Response(review_picture(task), status=code)


class NextReviewView(APIView):
    @extend_schema(request=None, responses={
        201: OpenApiResponse(description="A new lease on a review task, with everything a decision needs."),
        200: OpenApiResponse(description="The task the caller already holds in this project."),
        204: OpenApiResponse(description="The queue is empty."),
    })
    def post(self, request, project_id: int):
        """Lease the next review task (rework results first, lowest agreement first, spot checks interleaved).

        With `?ahead=1` while holding a task: lease the task after it (or return the one already
        leased ahead), so the workspace can fetch it while the QA lead decides.
        """
        project = get_object_or_404(review_projects(request.user), pk=project_id)
        task, created = next_review(request.user, project, ahead=request.GET.get("ahead") in ("1", "true"))
        if task is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return task_response(task, status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ReviewDetailView(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request, pk: int):
        """The image, every annotator's labels (named), consensus, agreement, flags, pre-labels, history, version."""
        return task_response(get_object_or_404(visible_review_tasks(request.user), pk=pk))


class DecideView(APIView):
    @extend_schema(request=DecideSerializer, responses={
        200: dict, 409: OpenApiResponse(description="The task changed or was decided: the body has the current version."),
    })
    def post(self, request, pk: int):
        """Decide a task: accept_consensus | accept_annotation | edit | reject (with pinned comments)."""
        task = get_object_or_404(visible_review_tasks(request.user), pk=pk)
        serializer = DecideSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        decision = decide(task.pk, request.user, DecisionInput(**serializer.validated_data))
        return Response({
            "decision": decision.pk, "action": decision.action, "task": decision.task_id,
            "image": decision.image_id,
            "image_status": Image.objects.values_list("status", flat=True).get(pk=decision.image_id),
            "payload": decision.payload, "created_at": decision.created_at,
        })


class RenewReviewView(APIView):
    @extend_schema(request=None, responses={200: dict})
    def post(self, request, pk: int):
        """Extend your lease on a review task."""
        task = get_object_or_404(visible_review_tasks(request.user), pk=pk)
        task = renew_review_lease(task, request.user)
        return Response({"id": task.pk, "lease_expires_at": task.lease_expires_at, "version": task.version})


class ReleaseReviewView(APIView):
    @extend_schema(request=None, responses={200: dict})
    def post(self, request, pk: int):
        """Give the task back to the queue."""
        task = get_object_or_404(visible_review_tasks(request.user), pk=pk)
        task = release_review_lease(task, request.user)
        return Response({"id": task.pk, "leased_by": task.leased_by_id, "version": task.version})


class PromoteGoldView(APIView):
    @extend_schema(request=None, responses={200: dict})
    def post(self, request, pk: int):
        """Make an accepted image a gold image: its final labels become gold."""
        image = get_object_or_404(reviewable_images(request.user), pk=pk)
        gold = promote_to_gold(image.pk, request.user)
        return Response({"image": image.pk, "is_gold": True, "gold_annotation": gold.pk,
                         "instances": len(gold.instances)})


class ImageHistoryView(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request, pk: int):
        """Every annotation, score, decision and rework round of the image, in order."""
        image = get_object_or_404(reviewable_images(request.user), pk=pk)
        return Response({"image": image.pk, "status": image.status, "events": image_history(image)})
