"""`manage.py demo` on PostgreSQL with Redis and real RQ workers: the numbers it reports are right.

The demo's scoring, pre-label and report jobs go through Redis to real
`rqworker --burst` processes (the `run_worker` fixture), run back to back in
a thread while the command waits for them, as workers on other machines would.
"""

import os
import threading

import pytest
from django.apps import apps
from django.core.management import call_command

from annotation.models import Assignment, ProjectAnnotator
from demo.management.commands.demo import Command
from review.models import ConsensusResult

pytestmark = pytest.mark.django_db(transaction=True)
SIZE = 40


def row_counts() -> dict[str, int]:
    return {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.managed and not m._meta.proxy}


def run_demo(**options) -> Command:
    command = Command()
    call_command(command, size=SIZE, wait=600, stdout=open("/dev/null", "w"), **options)
    return command


@pytest.fixture
def workers(redis_queues, run_worker):
    """Burst workers, one after another, until the test says stop."""
    stop, failures = threading.Event(), []

    def loop():
        while not stop.is_set():
            done = run_worker("default", "scoring", "gpu", timeout=600)
            if done.returncode != 0:
                failures.append(done.stderr[-2000:])
            stop.wait(0.2)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield failures
    stop.set()
    thread.join(timeout=700)


def test_the_demo_reports_true_numbers_and_a_second_run_adds_nothing(workers):
    numbers = run_demo().numbers
    assert not workers, workers

    # Consensus is closer to the truth than the median simulated annotator.
    assert numbers["consensus_images"] >= SIZE // 2
    assert numbers["consensus_oks"] > numbers["median_annotator_oks"]
    assert numbers["consensus_oks"] > 0.9

    # The swapper qualified (carefully) and is flagged for swaps, more than anyone else, and the report says so.
    assert ProjectAnnotator.objects.get(user__username="ann_swapper").qualification == "passed"
    swaps = {name: rates.get("left_right_swap", 0.0) for name, rates in numbers["flags"].items()}
    assert swaps["ann_swapper"] == max(swaps.values()) > 0
    assert "left_right_swap" in numbers["caught"]["ann_swapper"]
    # ... and the flags it reports are those stored on the consensus results.
    swapper = ProjectAnnotator.objects.get(user__username="ann_swapper")
    stored = sum(1 for flags in ConsensusResult.objects.values_list("flags", flat=True) for f in flags
                 if f["code"] == "left_right_swap" and f["annotator"] == swapper.user_id)
    assert stored > 0

    # The hip-biased annotator's bias is found on the hips, pointing up (negative y).
    hips = [b for b in numbers["quality"]["ann_hips"]["keypoint_bias"] if b["keypoint"] in ("left_hip", "right_hip")]
    assert hips and all(b["dy_sigmas"] < -1.0 for b in hips)
    careful_bias = numbers["quality"]["ann_careful"]["keypoint_bias"]
    assert not [b for b in careful_bias if b["keypoint"] in ("left_hip", "right_hip")]

    # The unqualified annotator tried (gold only), failed and never reached a production task.
    unqualified = ProjectAnnotator.objects.get(user__username="ann_unqualified")
    assert unqualified.qualification == "failed"
    mine = Assignment.objects.filter(annotator=unqualified.user)
    assert mine.filter(image__is_gold=True).exists()
    assert not mine.filter(image__is_gold=False).exists()
    assert "ann_unqualified" not in numbers["annotator_oks"]
    assert numbers["caught"]["ann_unqualified"].startswith("qualification failed")

    # Humans: the QA lead decided part of the queue and left the rest.
    images = numbers["images"]
    assert images["decided_by_qa_lead"] >= 1 and images["left_in_queue"] >= 1
    assert images["extra_replicas"] >= 1

    # Idempotent: a second run adds no rows anywhere.
    before = row_counts()
    again = run_demo().numbers
    assert row_counts() == before
    assert again["consensus_oks"] == numbers["consensus_oks"]


def test_the_demo_runs_on_the_embedded_default_and_prints_where_to_click(tmp_path):
    """The quick start's path: SQLite, jobs in-process, a fresh database; the report and the links are printed."""
    from tests.test_embedded_default import manage

    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}", "MEDIA_ROOT": str(tmp_path / "media"),
        "DEBUG": "1",
    }
    manage(env, "migrate", "--noinput")
    out = manage(env, "demo", "--size", "12", "--addr", "127.0.0.1:8123")
    assert "consensus" in out and "ann_unqualified" in out
    assert "http://127.0.0.1:8123/review/1/" in out and "jointly-demo" in out
