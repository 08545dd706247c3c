"""Review API: an image's consensus and a project's agreement report.

Both are for the people who judge quality (project managers, QA leads).
Annotators never get here: an annotator must not see the consensus or the
others' labels of an image (blind annotation), so these views refuse them
(403 on a project they can see, 404 on one they cannot). A vendor's QA lead
reads the per-annotator figures of their own vendor's people only.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.access import quality_projects, visible_annotator_ids, visible_projects
from annotation.models import Annotation, Image, Project
from jointly.jobs.api import JobRunSerializer
from jointly.jobs.services import enqueue

from . import presenters
from .models import ConsensusResult, ProjectAgreement
from .selectors import annotator_names, object_members


class ConsensusAnnotationSerializer(serializers.Serializer):
    annotation = serializers.IntegerField(allow_null=True)
    version = serializers.IntegerField(allow_null=True)
    instances = serializers.ListField(child=serializers.DictField())
    objects = serializers.ListField(
        child=serializers.DictField(),
        help_text="Per consensus object: support, quorum, accepted, spread, and members "
                  "([{annotator, instance, flipped}]: which annotator instance joined it).")


class ImageConsensusSerializer(serializers.Serializer):
    image = serializers.IntegerField()
    status = serializers.CharField()
    decision = serializers.ChoiceField(choices=ConsensusResult.Decision.choices)
    reasons = serializers.ListField(child=serializers.CharField())
    agreement = serializers.FloatField(allow_null=True)
    keypoint_agreement = serializers.DictField(child=serializers.FloatField(allow_null=True))
    visibility_agreement = serializers.FloatField(allow_null=True)
    n_annotators = serializers.IntegerField()
    consensus = ConsensusAnnotationSerializer()
    annotators = serializers.DictField(child=serializers.DictField(), help_text="Per annotator id: oks, instances.")
    pairwise_oks = serializers.DictField(child=serializers.FloatField(), help_text='Per "id-id" pair: mean OKS.')
    flags = serializers.ListField(child=serializers.DictField())
    computed_at = serializers.DateTimeField()


class AgreementReportSerializer(serializers.Serializer):
    """The stored report (review.agreement.summary) under its project, image count and time."""

    project = serializers.IntegerField()
    images = serializers.IntegerField()
    computed_at = serializers.DateTimeField()
    images_scored = serializers.IntegerField(required=False)
    annotators = serializers.DictField(required=False, help_text="Columns per annotator: source (user id), oks, ...")
    keypoints = serializers.DictField(required=False)
    biases = serializers.ListField(child=serializers.DictField(), required=False)


def _require_quality(user, project: Project) -> None:
    """A project the caller can see but not judge is a 403, as everywhere else in the API;
    one the caller cannot see at all was already a 404."""
    if not quality_projects(user).filter(pk=project.pk).exists():
        raise PermissionDenied("Only the project's managers and QA leads read its agreement figures.")


class ImageConsensus(APIView):
    """GET: the consensus of an image, its agreement, per-annotator and pairwise OKS, and flags.

    Annotators are named by user id (as in the project report); ``people``
    adds usernames for those the caller may see by name. Each object says
    whether its left/right orientation is ``undecided`` and who missed it.
    """

    @extend_schema(responses={200: ImageConsensusSerializer})
    def get(self, request, pk: int):
        image = get_object_or_404(
            Image.objects.filter(project__in=visible_projects(request.user)).select_related("project__skeleton"), pk=pk
        )
        _require_quality(request.user, image.project)
        result = ConsensusResult.objects.filter(image=image).first()
        if result is None:
            raise NotFound(f"Image {pk} has not been scored yet (status '{image.status}').")
        consensus = Annotation.objects.filter(image=image, source=Annotation.Source.CONSENSUS).first()
        scores = result.annotator_scores.get("per_annotator", {})
        visible = visible_annotator_ids(request.user, image.project)
        annotators, pairwise, flags = presenters.consensus_annotators(
            scores, result.annotator_scores.get("pairwise", {}), presenters.with_messages(result.flags), visible,
        )
        spec = image.project.skeleton.spec()
        members = object_members(image, spec, consensus.instances if consensus else [])
        return Response({
            "image": image.pk,
            "status": image.status,
            "decision": result.decision,
            "reasons": result.reasons,
            "agreement": result.agreement,
            "keypoint_agreement": dict(zip(spec.names, result.keypoint_agreement)),
            "visibility_agreement": result.visibility_agreement,
            "n_annotators": result.n_annotators,
            "consensus": {
                "annotation": consensus.pk if consensus else None,
                "version": consensus.version if consensus else None,
                "instances": consensus.instances if consensus else [],
                # members: [{annotator, instance, flipped}] of each accepted object (the caller's visible
                # annotators only); a rejected object has no consensus instance and no members.
                "objects": presenters.with_members(result.clusters, members, visible),
            },
            "annotators": annotators,
            "pairwise_oks": pairwise,
            "flags": flags,
            # user id -> username, for the annotators this caller may see by name
            "people": annotator_names(request.user, image.project, annotators),
            "computed_at": result.computed_at,
        })


class ProjectAgreementReport(APIView):
    """GET: the latest agreement report of a project. POST: re-score the project (a job on `scoring`)."""

    def _project(self, request, pk: int) -> Project:
        project = get_object_or_404(visible_projects(request.user), pk=pk)
        _require_quality(request.user, project)
        return project

    @extend_schema(responses={200: AgreementReportSerializer})
    def get(self, request, pk: int):
        project = self._project(request, pk)
        report = ProjectAgreement.objects.filter(project=project).first()
        if report is None:
            raise NotFound("No agreement report yet: POST to this URL to score the project.")
        body = {k: v for k, v in report.report.items() if k != "history"}  # the engine's own statistics
        body = presenters.agreement_report(body, visible_annotator_ids(request.user, project))
        ids = body.get("annotators", {}).get("source", [])
        return Response({"project": project.pk, "images": report.n_images, "computed_at": report.computed_at,
                         **body, "people": annotator_names(request.user, project, ids)})

    @extend_schema(request=None, responses={202: JobRunSerializer})
    def post(self, request, pk: int):
        project = self._project(request, pk)
        run = enqueue("scoring", "review.jobs.score_project", description=f"Agreement report of {project}",
                      created_by=request.user, project_id=project.pk)
        # 202 always, as documented: in-process (no REDIS_URL) the job happens to be done already.
        return Response(JobRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
