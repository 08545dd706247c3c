"""/api/v1/models/: the registry, pre-label and evaluation jobs, and the leaderboard.

Models are site-wide configuration: any signed-in user may read the registry,
only staff register or change versions. Jobs and scores belong to projects:
starting one needs the project's management rights (annotation.access
`managed_projects`), reading scores the right to see its quality figures
(`quality_projects`).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.access import managed_projects, quality_projects, visible_projects
from annotation.api.filters import ProjectRequired, read
from jointly.jobs.api import JobRunSerializer
from jointly.parsers import BoundedJSONParser
from jointly.query_params import id_param

from ..models import Evaluation, ModelVersion, PrelabelRun
from ..services import evaluation as evaluation_services
from ..services import prelabel as prelabel_services
from ..services.registry import register_model_version
from .serializers import (
    EvaluationSerializer, JobRequestSerializer, ModelVersionSerializer, ModelVersionUpdateSerializer,
    PrelabelRunSerializer,
)


class StaffWrites(BasePermission):
    def has_permission(self, request, view):
        if request.method in SAFE_METHODS or getattr(view, "action", None) in ("prelabel", "evaluate"):
            return True
        return bool(request.user and request.user.is_staff)


def managed_project(user, project_id: int):
    """The project if the caller manages it; 403 when they only see it, 404 when they don't."""
    project = managed_projects(user).select_related("skeleton").filter(pk=project_id).first()
    if project is not None:
        return project
    if visible_projects(user).filter(pk=project_id).exists():
        raise PermissionDenied("Only the project's admins and project managers may run models on it.")
    raise NotFound("No such project.")


class ModelVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                          mixins.UpdateModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated, StaffWrites]
    parser_classes = [BoundedJSONParser, MultiPartParser, FormParser]
    queryset = ModelVersion.objects.select_related("skeleton").order_by("name", "version")

    def get_queryset(self):
        queryset = super().get_queryset()
        skeleton = id_param(self.request.query_params, "skeleton")
        return queryset if skeleton is None else queryset.filter(skeleton_id=skeleton)

    def get_serializer_class(self):
        return ModelVersionUpdateSerializer if self.action in ("update", "partial_update") else ModelVersionSerializer

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        upload = data.pop("weights", None)
        serializer.instance = register_model_version(data, upload=upload, created_by=self.request.user)

    def _job_request(self, request):
        """(version, project, options) of a prelabel / evaluate request, or the matching 4xx."""
        version = self.get_object()
        body = JobRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return version, managed_project(request.user, body.validated_data["project"]), body.validated_data["options"]

    @extend_schema(request=JobRequestSerializer, responses={202: PrelabelRunSerializer})
    @action(detail=True, methods=["post"])
    def prelabel(self, request, pk=None):
        """Pre-label a project's images with this version (a job on the `gpu` queue)."""
        version, project, options = self._job_request(request)
        run = prelabel_services.start_prelabel(version, project, options, user=request.user)
        return Response(PrelabelRunSerializer(run, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=JobRequestSerializer, responses={202: JobRunSerializer})
    @action(detail=True, methods=["post"])
    def evaluate(self, request, pk=None):
        """Score this version against a project's accepted ground truth (a job on the `gpu` queue)."""
        version, project, options = self._job_request(request)
        job = evaluation_services.start_evaluation(version, project, options, user=request.user)
        return Response(JobRunSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: EvaluationSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def evaluations(self, request, pk=None):
        """This version's scores on the projects whose quality figures the caller may read."""
        version = self.get_object()
        rows = Evaluation.objects.filter(
            model_version=version, project__in=quality_projects(request.user)).select_related("model_version")
        return Response(EvaluationSerializer(rows, many=True).data)


class LeaderboardView(APIView):
    @extend_schema(responses={200: EvaluationSerializer(many=True)})
    def get(self, request):
        """Model versions on one project (?project=ID), best AP first."""
        project_id = read(ProjectRequired, request.query_params)["project"]
        project = quality_projects(request.user).filter(pk=project_id).first()
        if project is None:
            raise NotFound("No such project.")
        rows = Evaluation.objects.filter(project=project).select_related("model_version").order_by("-ap", "-ar")
        return Response(EvaluationSerializer(rows, many=True).data)


class CancelPrelabelView(APIView):
    @extend_schema(request=None, responses={200: PrelabelRunSerializer, 404: OpenApiResponse(description="No such run.")})
    def post(self, request, run_id: int):
        """Stop a pre-label run after its current batch; it then writes nothing."""
        run = get_object_or_404(PrelabelRun.objects.filter(project__in=managed_projects(request.user)), pk=run_id)
        prelabel_services.cancel_prelabel(run)
        return Response(PrelabelRunSerializer(run, context={"request": request}).data)
