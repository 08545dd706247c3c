#!/usr/bin/env bash
# Schemathesis against a live server for five roles (see scripts/fuzz_api.py); PostgreSQL must be up.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python scripts/fuzz_api.py "$@"
