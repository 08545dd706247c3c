"""Issue 12, finding 9: backup and restore, Redis persistence, deployment settings."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import close_old_connections, connection

from annotation.models import Image
from tests.annotation.factories import make_images, make_project
from tests.conftest import ROOT


def _scratch_database(name: str) -> str:
    s = connection.settings_dict
    admin = f"host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432} user={s['USER'] or 'postgres'} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"


@pytest.mark.django_db(transaction=True)
def test_backup_then_restore_into_an_empty_database_gives_back_rows_and_files(settings, tmp_path):
    project = make_project()
    images = make_images(project, 3)
    media = Path(settings.MEDIA_ROOT)
    for image in images:
        (media / image.file.name).parent.mkdir(parents=True, exist_ok=True)
        (media / image.file.name).write_bytes(f"pixels of {image.pk}".encode())
    call_command("backup", str(tmp_path / "backup"))
    assert {p.name for p in (tmp_path / "backup").iterdir()} == {"database.dump", "media.tar.gz", "manifest.json"}

    target_url = _scratch_database(f"{connection.settings_dict['NAME']}_restore")
    restored_media = tmp_path / "restored-media"
    env = {**os.environ, "DATABASE_URL": target_url, "MEDIA_ROOT": str(restored_media)}
    done = subprocess.run([sys.executable, "manage.py", "restore", str(tmp_path / "backup"), "--yes"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    with psycopg.connect(target_url.replace("postgres://", "postgresql://")) as conn:
        rows = conn.execute("SELECT id, file, sha256 FROM annotation_image ORDER BY id").fetchall()
    assert rows == list(Image.objects.order_by("id").values_list("id", "file", "sha256"))
    for image in images:
        assert (restored_media / image.file.name).read_bytes() == f"pixels of {image.pk}".encode()
    refused = subprocess.run([sys.executable, "manage.py", "restore", str(tmp_path / "backup")],
                             cwd=ROOT, env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "--yes" in refused.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_redis(port: int, folder: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        ["redis-server", str(ROOT / "deploy" / "redis.conf"), "--port", str(port), "--dir", str(folder),
         "--bind", "127.0.0.1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in process.stdout:  # its log says when it has loaded the data and listens
        if "Ready to accept connections" in line:
            return process
    raise RuntimeError("redis-server did not start")


def test_redis_in_the_production_shape_keeps_queued_jobs_across_a_restart(tmp_path):
    from redis import Redis
    from rq import Queue

    port = _free_port()
    server = _start_redis(port, tmp_path)
    try:
        queue = Queue("scoring", connection=Redis(port=port))
        job = queue.enqueue("jointly.jobs.services.run_job", "00000000-0000-0000-0000-000000000000")
        Redis(port=port).shutdown(nosave=False)  # a restart: persists what it holds and stops
        server.wait(timeout=30)
        server = _start_redis(port, tmp_path)
        assert Queue("scoring", connection=Redis(port=port)).job_ids == [job.id]
    finally:
        server.kill()
        server.wait(timeout=30)


def _settings_in_a_process(env: dict, *names: str) -> list[str]:
    code = "from django.conf import settings as s; " + "; ".join(f"print(repr(getattr(s, {n!r}, None)))" for n in names)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "DJANGO_SETTINGS_MODULE": "jointly.settings", **env})
    return out.stdout.split("\n")[:len(names)]


PRODUCTION = {"DEBUG": "0", "SECRET_KEY": "x" * 20 + "yz0123456789-abcdefghijklmnopqrstuvwxyz",
              "ALLOWED_HOSTS": "jointly.example.com", "REDIS_URL": "redis://127.0.0.1:6379/3"}


def test_check_deploy_is_clean_in_the_production_shape():
    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                          env={**os.environ, **PRODUCTION}, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_https_settings_come_from_the_environment_under_djangos_names():
    names = ("SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_PROXY_SSL_HEADER")
    assert _settings_in_a_process(PRODUCTION, *names) == ["True", "31536000", "None"]
    plain_http = {**PRODUCTION, "SECURE_SSL_REDIRECT": "0", "SECURE_HSTS_SECONDS": "0",
                  "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https"}
    assert _settings_in_a_process(plain_http, *names) == [
        "False", "0", "('HTTP_X_FORWARDED_PROTO', 'https')"]
    assert _settings_in_a_process({}, "DATABASES")[0].count("'CONN_HEALTH_CHECKS': True") >= 1


@pytest.mark.django_db(transaction=True)
def test_a_database_connection_dropped_between_requests_is_not_a_500(django_user_model):
    """A web worker keeps its connection between requests (CONN_MAX_AGE); when PostgreSQL drops
    it (a restart), the next request reconnects instead of failing."""
    from tests.annotation.factories import client_for

    user = django_user_model.objects.create_user("keeper", is_staff=True, is_superuser=True)
    connection.settings_dict["CONN_MAX_AGE"] = 60  # as in production (the test database has it too)
    try:
        client = client_for(user, token=True)
        assert client.get("/api/v1/projects/").status_code == 200
        pid = connection.connection.info.backend_pid
        s = connection.settings_dict
        with psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"] or "postgres",
                             dbname=s["NAME"], autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])
        close_old_connections()  # what a real request starts with (Django's test client skips it)
        assert client.get("/api/v1/projects/").status_code == 200
        assert connection.connection.info.backend_pid != pid
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = 0
        connection.close()
