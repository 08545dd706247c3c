"""`/api/v1/projects/{id}/tasks/next/` and the project's instructions, as an annotator sees them.

The task payload is everything the workspace needs to label one image, and
nothing it must not see: no other annotator's labels, no consensus, no hint
whether the image is a gold check (no file name, no gold flag).
"""

from __future__ import annotations

import markdown
import nh3
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from jointly.domain_errors import Conflict, Refused

from .. import engine
from ..engine.admission import must_acknowledge_first, qualifying, work_refusal
from ..access import task_context, visible_projects
from ..image_urls import image_file_url
from ..models import Annotation, Assignment, InstructionsAcknowledgement, Membership, Project, Skeleton
from ..services import skeletons as skeleton_services
from ..services.skeleton_cache import cached_for_skeleton
from ..services import workforce as workforce_services
from .authentication import ENGINE_AUTHENTICATION
from .task_schema import TaskSerializer


def staffed_project(user, project_id: int) -> Project:
    """The project the caller annotates on (see access.task_context for what it carries); 404 or 403 otherwise."""
    project = task_context(user, project_id)
    if project is None:
        granted_to_own_vendor = Project.objects.filter(
            pk=project_id, is_active=True, vendors__memberships__user=user,
            vendors__memberships__role=Membership.Role.ANNOTATOR, vendors__memberships__is_active=True,
        )
        if granted_to_own_vendor.exists() or visible_projects(user).filter(pk=project_id).exists():
            raise PermissionDenied(
                "You are not staffed on this project as an annotator; ask your vendor manager to add you."
            )
        raise NotFound("No such project.")
    return project


def instructions_links(request, project: Project) -> dict:
    return {
        "url": request.build_absolute_uri(f"/api/v1/projects/{project.pk}/instructions/"),
        "acknowledge_url": request.build_absolute_uri(f"/api/v1/projects/{project.pk}/instructions/acknowledge/"),
    }


def skeleton_payload(project: Project) -> dict:
    """The skeleton as the workspace draws it, cached per process (see services.skeleton_cache)."""
    updated_at = getattr(project, "skeleton_updated_at", None) or project.skeleton.updated_at

    def build():
        skeleton = Skeleton.objects.prefetch_related("keypoints", "edges").get(pk=project.skeleton_id)
        return {"id": skeleton.pk, "version": skeleton.version, **skeleton_services.definition_of(skeleton)}

    return cached_for_skeleton(project.skeleton_id, updated_at, "payload", build)


def prelabel_of(image_id: int, project: Project) -> dict | None:
    """The project's pre-label of the image when the project shows them, else None: the model, and per
    instance its bbox, COCO keypoints and per-keypoint scores (what the workspace draws)."""
    if not (project.prelabel_model_id and project.show_prelabels):
        return None
    row = Annotation.objects.filter(
        image_id=image_id, source=Annotation.Source.MODEL, pose_model_id=project.prelabel_model_id,
    ).values_list("instances", "pose_model__name", "pose_model__version").first()
    if row is None:
        return None
    instances, name, version = row
    return {
        "model": {"id": project.prelabel_model_id, "name": name, "version": version},
        "instances": [
            {"bbox": inst["bbox"], "keypoints": inst["keypoints"], "scores": inst.get("scores")}
            for inst in instances
        ],
    }


def task_payload(request, assignment: Assignment, project: Project, skeleton: dict | None = None) -> dict:
    """The annotator's view of one assignment: image, skeleton, pre-labels, instructions, own draft."""
    image = assignment.image
    return {
        "id": assignment.pk,
        "project": project.pk,
        "state": assignment.state,
        "leased_at": assignment.leased_at,
        "lease_expires_at": assignment.lease_expires_at,
        "submitted_at": assignment.submitted_at,
        "image": {
            "id": image.pk,
            "url": image_file_url(image, request),
            "width": image.width,
            "height": image.height,
        },
        "skeleton": skeleton or skeleton_payload(project),
        "prelabel": prelabel_of(image.pk, project),
        "instructions": (
            {"id": project.instructions_id, "version": assignment.instructions_version,
             **instructions_links(request, project)}
            if project.instructions_id else None
        ),
        "draft": assignment.draft,
        "active_ms": assignment.active_ms,
        # A rework round: the QA lead's comments, each pinned to an instance and keypoint index of
        # the annotator's own previous labels (given back as the draft), optionally to a point. A new
        # annotator of an image a QA lead gave to new people gets that rejection's comments, set
        # by the lease itself (engine.rules.reassigned_comments_sql).
        "review_comments": assignment.review_comments or [],
    }


def lease_next_task(request, user, project: Project) -> tuple[dict | None, int]:
    """tasks/next for a staffed caller clear to work: (task payload or None, HTTP status).

    `?ahead=1` leases the image after the one the caller holds (see engine.next_task).
    """
    assignment, created = engine.next_task(
        user, project, vendor_id=project.staffed_vendor_id, may_hold_lease=project.held_lease_id is not None,
        rework_id=project.rework_assignment_id, gold_only=qualifying(project),
        ahead=request.GET.get("ahead") in ("1", "true"),
    )
    if assignment is None:
        return None, status.HTTP_204_NO_CONTENT
    return task_payload(request, assignment, project), status.HTTP_201_CREATED if created else status.HTTP_200_OK


class NextTaskView(APIView):
    authentication_classes = ENGINE_AUTHENTICATION

    @extend_schema(
        request=None,
        responses={
            201: OpenApiResponse(TaskSerializer, description="A new lease on one image."),
            200: OpenApiResponse(TaskSerializer, description="The lease the caller already holds in this project."),
            204: OpenApiResponse(description="Nothing left for the caller in this project."),
            409: OpenApiResponse(description="The current instructions must be acknowledged first."),
        },
    )
    def post(self, request, project_id: int):
        """Lease the next image to label (or return the lease the caller holds).

        With `?ahead=1` while holding a lease: lease the image after it (or return the one
        already leased ahead), so a client can fetch it while the person labels.
        """
        project = staffed_project(request.user, project_id)
        if must_acknowledge_first(project):
            raise Conflict(
                f"Read and acknowledge the instructions of this project (version "
                f"{project.current_instructions_version}) before your first task.",
                {"instructions": {
                    "code": "instructions_not_acknowledged", "version": project.current_instructions_version,
                    **instructions_links(request, project),
                }},
            )
        refusal = work_refusal(project)
        if refusal is not None:
            raise Refused(*refusal)
        payload, status_code = lease_next_task(request, request.user, project)
        return Response(payload, status=status_code)


class AcknowledgeSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)


class InstructionExampleSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["good", "bad"])
    caption = serializers.CharField(allow_blank=True)
    url = serializers.URLField()


class ProjectInstructionsSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    version = serializers.IntegerField()
    body = serializers.CharField(allow_blank=True)
    body_html = serializers.CharField(allow_blank=True)
    examples = InstructionExampleSerializer(many=True)
    acknowledged = serializers.BooleanField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    url = serializers.URLField()
    acknowledge_url = serializers.URLField()


class AcknowledgementSerializer(serializers.Serializer):
    instructions = serializers.IntegerField()
    version = serializers.IntegerField()
    acknowledged_at = serializers.DateTimeField()


class ProjectInstructionsView(APIView):
    @extend_schema(responses={200: ProjectInstructionsSerializer,
                              404: OpenApiResponse(description="No such project, or no instructions.")})
    def get(self, request, project_id: int):
        """The project's current instructions (markdown and sanitized HTML) and whether the caller acknowledged them."""
        project = _visible_project(request.user, project_id)
        instructions = project.instructions
        if instructions is None:
            raise NotFound("This project has no instructions.")
        acknowledgement = InstructionsAcknowledgement.objects.filter(
            user=request.user, instructions=instructions, version=instructions.version
        ).values_list("acknowledged_at", flat=True).first()
        return Response({
            "id": instructions.pk,
            "title": instructions.title,
            "version": instructions.version,
            "body": instructions.body,
            "body_html": nh3.clean(markdown.markdown(instructions.body, extensions=["tables"])),
            "examples": [
                {"kind": ex.kind, "caption": ex.caption,
                 "url": request.build_absolute_uri(reverse("instruction-example-image", args=[ex.pk]))}
                for ex in instructions.examples.all()
            ],
            "acknowledged": acknowledgement is not None,
            "acknowledged_at": acknowledgement,
            **instructions_links(request, project),
        })


class AcknowledgeInstructionsView(APIView):
    @extend_schema(request=AcknowledgeSerializer, responses={200: AcknowledgementSerializer})
    def post(self, request, project_id: int):
        """Acknowledge the current instructions version (send the version you read)."""
        project = _visible_project(request.user, project_id)
        serializer = AcknowledgeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        acknowledgement = workforce_services.acknowledge_instructions(
            request.user, project, version=serializer.validated_data["version"]
        )
        return Response({
            "instructions": acknowledgement.instructions_id,
            "version": acknowledgement.version,
            "acknowledged_at": acknowledgement.acknowledged_at,
        })


def _visible_project(user, project_id: int) -> Project:
    project = visible_projects(user).select_related("instructions").filter(pk=project_id).first()
    if project is None:
        raise NotFound("No such project.")
    return project
