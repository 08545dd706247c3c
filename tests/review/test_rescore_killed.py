"""Rescoring a project in batches: a worker SIGKILLed mid-job leaves whole batches, and a re-run ends
exactly where a clean run ends."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from annotation.models import Annotation, Image
from jointly.jobs.models import JobRun
from jointly.jobs.services import _push_to_rq, enqueue
from review.models import ConsensusResult, ProjectAgreement, ReviewTask, ScoreRound
from review.services.scoring import WRITERS, score_project

from ..conftest import ROOT, _test_database_url
from .scoring_fixtures import make_scored_world

pytestmark = pytest.mark.django_db(transaction=True)


def snapshot(project):
    """Every row scoring writes, without ids and timestamps."""
    results = {
        r.image_id: (r.agreement, r.keypoint_agreement, r.visibility_agreement, r.n_annotators, r.n_objects,
                     r.clusters, r.annotator_scores, r.flags, r.decision, r.reasons, r.inputs)
        for r in ConsensusResult.objects.filter(project=project)
    }
    consensus = dict(Annotation.objects.filter(image__project=project, source="consensus")
                     .values_list("image_id", "instances"))
    versions = dict(Annotation.objects.filter(image__project=project, source="consensus")
                    .values_list("image_id", "version"))
    tasks = sorted(ReviewTask.objects.filter(project=project).values_list("image_id", "state", "kind", "reasons",
                                                                        "agreement", "version", "round"))
    statuses = dict(Image.objects.filter(project=project).values_list("pk", "status"))
    report = {k: v for k, v in ProjectAgreement.objects.get(project=project).report.items() if k != "timings"}
    rounds = sorted(ScoreRound.objects.filter(project=project).values_list(
        "image_id", "decision", "agreement", "reasons", "inputs", "n_annotators", "n_objects", "flag_counts"))
    return results, consensus, versions, tasks, statuses, report, rounds


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def start_worker(redis_url, settings):
    env = {**os.environ, "DATABASE_URL": _test_database_url(), "REDIS_URL": redis_url,
           "MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    return subprocess.Popen([sys.executable, "manage.py", "rqworker", "--burst", "scoring"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def test_a_worker_killed_mid_rescore_leaves_whole_batches_and_a_rerun_equals_a_clean_run(redis_queues, settings,
                                                                                         run_worker):
    world = make_scored_world(24, seed=21, auto_accept_oks=0.9)
    images = sorted(world.images, key=lambda im: im.pk)
    run = enqueue("scoring", "review.jobs.score_project", project_id=world.project.pk, batch_size=4)
    # The job waits for batches in order: it stops at the held batch, after the other writers wrote the
    # batches handed out with it.
    committed = {im.pk for im in images[:12] + images[16:16 + 4 * (WRITERS - 1)]}

    # Hold the first image of the fourth batch: its writer waits on the row lock (scoring.WRITERS
    # connections write batches at once in a project rescore).
    blocker = psycopg.connect(_test_database_url().replace("postgres://", "postgresql://"))
    blocker.execute("SELECT id FROM annotation_image WHERE id = %s FOR UPDATE", [images[12].pk])
    worker = start_worker(redis_queues, settings)
    try:
        for _ in range(1200):  # up to ~2 minutes: wait for the worker itself, never a fixed sleep
            if ConsensusResult.objects.filter(project=world.project).count() >= len(committed):
                break
            try:
                worker.wait(timeout=0.1)
                pytest.fail(f"the worker ended before it was killed: {worker.stderr.read()[-2000:]}")
            except subprocess.TimeoutExpired:
                pass
        assert ConsensusResult.objects.filter(project=world.project).count() == len(committed)
        waiting = blocker.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'").fetchone()[0]
        # RQ runs the job in a forked work horse in a session of its own: kill it, then the worker.
        horses = children_of(worker.pid)
        for pid in horses:
            os.kill(pid, signal.SIGKILL)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    finally:
        blocker.rollback()
        blocker.close()
    assert waiting >= 1 and horses  # it really was mid-job, in a work horse blocked in the fourth batch
    # Whole batches only: results, consensus and statuses of the committed batches, nothing of the fourth;
    # no report.
    connection.close()
    scored = set(ConsensusResult.objects.filter(project=world.project).values_list("image_id", flat=True))
    assert scored == committed
    assert set(Annotation.objects.filter(image__project=world.project, source="consensus")
               .values_list("image_id", flat=True)) == scored
    assert set(Image.objects.filter(project=world.project, status="scoring").values_list("pk", flat=True)) == {
        im.pk for im in images if im.pk not in committed}
    assert not ProjectAgreement.objects.filter(project=world.project).exists()
    assert JobRun.objects.get(pk=run.pk).state == "started"  # its record says it never finished

    _push_to_rq(run)  # run the same job again
    assert run_worker("scoring").returncode == 0
    run.refresh_from_db()
    assert run.state == "finished" and run.attempts == 2
    rerun = snapshot(world.project)

    # A clean run from the same inputs.
    ConsensusResult.objects.filter(project=world.project).delete()
    ScoreRound.objects.filter(project=world.project).delete()
    Annotation.objects.filter(image__project=world.project, source="consensus").delete()
    ReviewTask.objects.filter(project=world.project).delete()
    ProjectAgreement.objects.filter(project=world.project).delete()
    Image.objects.filter(project=world.project).update(status="scoring")  # test reset to before scoring
    score_project(world.project, batch_size=4)
    clean = snapshot(world.project)
    assert rerun == clean
    assert len(rerun[6]) == len(images)  # one score round per image: the killed run's batches added none twice
    assert set(rerun[4].values()) >= {"accepted"}
