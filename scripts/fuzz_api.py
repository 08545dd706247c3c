"""Schemathesis against a live Jointly server, once per role: 0 server errors, 0 schema violations.

    .venv/bin/python scripts/fuzz_api.py                     # 25 examples per operation and role
    .venv/bin/python scripts/fuzz_api.py --examples 100 --roles annotator anonymous

Creates a scratch PostgreSQL database (`--database-url`, dropped and made
anew), migrates and seeds it (scripts/fuzz_seed.py: an organization, a
vendor, a project, one user per role), starts gunicorn on it with DEBUG off
(plain HTTP: SECURE_SSL_REDIRECT=0, throttles raised so the fuzzer is not
answered 429 all along), and runs `schemathesis run` on `/api/schema/` as an
admin, a project manager, a vendor manager, an annotator and anonymous, with
the checks not_a_server_error, status_code_conformance,
content_type_conformance and response_schema_conformance. The token
endpoints are fuzzed anonymously only (an authenticated run would revoke
its own token). Prints one line per role; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ROLES = ["admin", "project_manager", "vendor_manager", "annotator", "anonymous"]
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def scratch_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = f"host={parsed.hostname or '127.0.0.1'} port={parsed.port or 5432} user={parsed.username or 'postgres'}"
    with psycopg.connect(admin + " dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/jointly_fuzz")
    parser.add_argument("--examples", type=int, default=25)
    parser.add_argument("--roles", nargs="+", default=ROLES, choices=ROLES)
    # One worker: hypothesis describes strategies through `ast`, which is not thread-safe on 3.11.
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--report-dir", default=str(ROOT / "bench" / "out" / "fuzz"))
    args = parser.parse_args()

    media = tempfile.mkdtemp(prefix="jointly-fuzz-media-")
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "jointly.settings", "DATABASE_URL": args.database_url,
        "DEBUG": "0", "SECRET_KEY": "fuzz-" + "k" * 60, "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0", "SECURE_HSTS_SECONDS": "0", "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0", "MEDIA_ROOT": media, "REDIS_URL": "", "CACHE_URL": "",
        "THROTTLE_WRITE": "1000000/min", "THROTTLE_AUTH_TOKEN": "1000000/min", "THROTTLE_BAD_TOKEN": "1000000/min",
        "THROTTLE_ACCOUNT_CREATION": "1000000/min",
        "AXES_FAILURE_LIMIT": "1000000", "LOG_LEVEL": "ERROR",
    }
    scratch_database(args.database_url)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    tokens = json.loads(subprocess.run([sys.executable, "scripts/fuzz_seed.py"], cwd=ROOT, env=env, check=True,
                                       capture_output=True, text=True).stdout.strip().splitlines()[-1])
    port = free_port()
    server = subprocess.Popen([str(BIN / "gunicorn"), "jointly.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}",
                               "--log-level", "error"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/api/schema/", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        failed = False
        for role in args.roles:
            report = Path(args.report_dir) / role
            command = [str(BIN / "schemathesis"), "run", base + "/api/schema/", "--checks", CHECKS,
                       "--max-examples", str(args.examples), "--workers", str(args.workers), "--no-color",
                       "--generation-allow-x00", "true", "--report", "junit", "--report-dir", str(report),
                       "--continue-on-failure", "--request-timeout", "30"]
            if role != "anonymous":
                command += ["-H", f"Authorization: Token {tokens[role]}", "--exclude-path-regex", "^/api/v1/auth/"]
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            (report / "output.txt").parent.mkdir(parents=True, exist_ok=True)
            (report / "output.txt").write_text(done.stdout + done.stderr)
            # The last line: "== 2 failures, 1 error, 3 warnings in 38.61s ==" (or "N passed").
            last = ([line for line in done.stdout.splitlines() if line.startswith("=")] or [""])[-1]
            failures = int((re.search(r"(\d+) failures?", last) or [0, 0])[1])
            errors = int((re.search(r"(\d+) errors?", last) or [0, 0])[1])
            cases = re.search(r"(\d+) generated", done.stdout)
            print(f"{role:>16}: {failures} failing check(s), {errors} fuzzer error(s), "
                  f"{cases[1] if cases else '?'} cases  (details: {report / 'output.txt'})")
            # A fuzzer error is schemathesis failing on its own (reported, not the API's fault);
            # a failing check is a server error or a schema violation.
            failed |= failures > 0 or done.returncode not in (0, 1)
        return 1 if failed else 0
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
