from rest_framework import generics, serializers

from annotation.access import visible_jobs

from .models import JobRun
from .services import reconcile_job_run


class JobRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobRun
        fields = [
            "id", "queue", "description", "state", "progress", "message", "result", "error",
            "created_at", "started_at", "finished_at", "attempts",
        ]


class JobDetail(generics.RetrieveAPIView):
    """State and progress of a job the caller may watch: theirs, or one of a project they manage
    (staff see every job); anything else is a 404."""

    serializer_class = JobRunSerializer

    def get_queryset(self):
        return visible_jobs(self.request.user)

    def get_object(self):
        run = super().get_object()
        # An open row is checked against RQ's record first: never report a dead job as running.
        if reconcile_job_run(run):
            run.refresh_from_db()
        return run
