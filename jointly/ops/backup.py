"""Backup and restore: the PostgreSQL database (pg_dump's custom format) and the media folder.

A backup is one folder holding `database.dump` (pg_dump -Fc) and `media.tar.gz`
(MEDIA_ROOT), plus `manifest.json` saying what and when. Restoring replaces
the target database's contents (pg_restore --clean --if-exists, one
transaction) and unpacks the media where MEDIA_ROOT points. Redis is not part
of a backup: queued jobs are JobRun rows, and `reconcile_jobs` requeues the
ones Redis no longer holds.

Images on S3 (AWS_STORAGE_BUCKET_NAME) are not copied: use the bucket's own
versioning or replication for those.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlparse

DUMP, MEDIA, MANIFEST = "database.dump", "media.tar.gz", "manifest.json"


class BackupError(RuntimeError):
    pass


def _pg_env(database_url: str) -> tuple[list[str], dict]:
    """Connection arguments for pg_dump/pg_restore, the password in the environment (not argv)."""
    url = urlparse(database_url)
    if url.scheme not in ("postgres", "postgresql", "pgsql"):
        raise BackupError(f"Backups need PostgreSQL; DATABASE_URL is {url.scheme or 'unset'}.")
    args = ["--host", url.hostname or "127.0.0.1", "--port", str(url.port or 5432),
            "--username", unquote(url.username or "postgres"), "--dbname", unquote(url.path.lstrip("/"))]
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = unquote(url.password)
    return args, env


def _run(command: list[str], env: dict) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")


def create_backup(target: Path, *, database_url: str, media_root: Path) -> dict:
    """Write a backup folder at `target` (which must not exist yet); returns the manifest."""
    target = Path(target)
    if target.exists():
        raise BackupError(f"{target} exists already; a backup is written to a new folder.")
    target.mkdir(parents=True)
    args, env = _pg_env(database_url)
    _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(target / DUMP), *args], env)
    media_root = Path(media_root)
    files = 0
    with tarfile.open(target / MEDIA, "w:gz") as archive:
        if media_root.is_dir():
            for path in sorted(media_root.rglob("*")):
                if path.is_file():
                    archive.add(path, arcname=str(path.relative_to(media_root)), recursive=False)
                    files += 1
    manifest = {"created_at": datetime.now(timezone.utc).isoformat(), "database": DUMP, "media": MEDIA,
                "media_files": files, "database_bytes": (target / DUMP).stat().st_size}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def restore_backup(source: Path, *, database_url: str, media_root: Path) -> dict:
    """Replace the database's contents and the media folder's files with the backup at `source`."""
    source = Path(source)
    manifest = json.loads((source / MANIFEST).read_text())
    args, env = _pg_env(database_url)
    _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
          "--exit-on-error", *args, str(source / DUMP)], env)
    media_root = Path(media_root)
    media_root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(source / MEDIA, "r:gz") as archive:
        archive.extractall(media_root, filter="data")  # "data": no absolute paths, links out or devices
    return manifest
