"""Shared fixtures. The suite runs on the real PostgreSQL and Redis (scripts/test.sh)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _require_postgresql(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.exit("The test suite runs on PostgreSQL: use scripts/test.sh or set DATABASE_URL.", returncode=2)


@pytest.fixture(autouse=True)
def _in_process_jobs_and_tmp_media(settings, tmp_path):
    """Jobs run in-process unless a test asks for Redis; uploads land in a temp folder;
    throttle and login-failure counts (in the cache) start from zero."""
    from django.core.cache import cache

    settings.REDIS_URL = ""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"}}
    cache.clear()


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user("staff", password="pw", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(staff_user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(staff_user)
    return client


def _test_database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def redis_queues(settings):
    """Real RQ queues on the test Redis database, emptied before and after the test.

    Use with `transactional_db` so the worker process sees committed rows.
    """
    from redis import Redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
    settings.REDIS_URL = url
    settings.RQ_QUEUES = {name: {"URL": url, "DEFAULT_TIMEOUT": 600} for name in settings.JOB_QUEUES}
    redis = Redis.from_url(url)
    redis.flushdb()
    yield url
    redis.flushdb()


@pytest.fixture
def run_worker(redis_queues, settings):
    """Run a real `manage.py rqworker --burst` over the given queues; returns the CompletedProcess."""

    def run(*queues: str, timeout: int = 120) -> subprocess.CompletedProcess:
        env = {
            **os.environ, "DATABASE_URL": _test_database_url(), "REDIS_URL": redis_queues,
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        }
        return subprocess.run(
            [sys.executable, "manage.py", "rqworker", "--burst", *(queues or ("default", "scoring", "gpu"))],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
        )

    return run
