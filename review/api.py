"""Review API: an image's consensus and a project's agreement report.

Both are for the people who judge quality (project managers, QA leads).
Annotators never get here: an annotator must not see the consensus or the
others' labels of an image (blind annotation), so these views 404 for them.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.access import quality_projects
from annotation.models import Annotation, Image, Project
from jointly.jobs.api import JobRunSerializer
from jointly.jobs.services import enqueue

from .models import ConsensusResult, ProjectAgreement
from .selectors import annotator_names


class ImageConsensus(APIView):
    """GET: the consensus of an image, its agreement, per-annotator and pairwise OKS, and flags.

    Annotators are named by user id (as in the project report); ``people``
    adds usernames for those the caller may see by name. Each object says
    whether its left/right orientation is ``undecided`` and who missed it.
    """

    @extend_schema(responses={200: dict})
    def get(self, request, pk: int):
        image = get_object_or_404(
            Image.objects.filter(project__in=quality_projects(request.user)).select_related("project__skeleton"), pk=pk
        )
        result = ConsensusResult.objects.filter(image=image).first()
        if result is None:
            raise NotFound(f"Image {pk} has not been scored yet (status '{image.status}').")
        consensus = Annotation.objects.filter(image=image, source=Annotation.Source.CONSENSUS).first()
        scores = result.annotator_scores.get("per_annotator", {})
        return Response({
            "image": image.pk,
            "status": image.status,
            "decision": result.decision,
            "reasons": result.reasons,
            "agreement": result.agreement,
            "keypoint_agreement": dict(zip(image.project.skeleton.spec().names, result.keypoint_agreement)),
            "visibility_agreement": result.visibility_agreement,
            "n_annotators": result.n_annotators,
            "consensus": {
                "annotation": consensus.pk if consensus else None,
                "version": consensus.version if consensus else None,
                "instances": consensus.instances if consensus else [],
                "objects": result.clusters,
            },
            "annotators": scores,
            "pairwise_oks": result.annotator_scores.get("pairwise", {}),
            "flags": result.flags,
            # user id -> username, for the annotators this caller may see by name
            "people": annotator_names(request.user, image.project, scores),
            "computed_at": result.computed_at,
        })


class ProjectAgreementReport(APIView):
    """GET: the latest agreement report of a project. POST: re-score the project (a job on `scoring`)."""

    def _project(self, request, pk: int) -> Project:
        return get_object_or_404(quality_projects(request.user), pk=pk)

    @extend_schema(responses={200: dict})
    def get(self, request, pk: int):
        project = self._project(request, pk)
        report = ProjectAgreement.objects.filter(project=project).first()
        if report is None:
            raise NotFound("No agreement report yet: POST to this URL to score the project.")
        body = {k: v for k, v in report.report.items() if k != "history"}  # the engine's own statistics
        ids = body.get("annotators", {}).get("source", [])
        return Response({"project": project.pk, "images": report.n_images, "computed_at": report.computed_at,
                         **body, "people": annotator_names(request.user, project, ids)})

    @extend_schema(request=None, responses={202: JobRunSerializer})
    def post(self, request, pk: int):
        project = self._project(request, pk)
        run = enqueue("scoring", "review.jobs.score_project", description=f"Agreement report of {project}",
                      created_by=request.user, project_id=project.pk)
        code = status.HTTP_200_OK if run.is_done else status.HTTP_202_ACCEPTED
        return Response(JobRunSerializer(run).data, status=code)
