#!/usr/bin/env bash
# Set up Jointly on the embedded default (SQLite, in-process jobs) and serve it
# at http://127.0.0.1:8000/ with the skeleton presets loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
# The quick start is a development server: DEBUG on (the development secret key,
# localhost hosts, admin/admin). Everything else defaults to DEBUG off.
export DEBUG=${DEBUG:-1}
bash scripts/setup.sh
PY=.venv/bin/python
$PY manage.py migrate --noinput
$PY manage.py load_skeleton_presets
$PY manage.py ensure_admin
exec $PY manage.py runserver "${JOINTLY_ADDR:-127.0.0.1:8000}"
