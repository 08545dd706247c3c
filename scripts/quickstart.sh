#!/usr/bin/env bash
# From a fresh clone to a populated Jointly in the browser, on the embedded default
# (SQLite, jobs in-process): install, migrate, load the skeleton presets, run the demo
# (people, a project, rendered figures with known truth, simulated annotators and a QA
# lead, see demo/), then serve it at http://127.0.0.1:8000/ (JOINTLY_ADDR to change).
set -euo pipefail
cd "$(dirname "$0")/.."
# The quick start is a development server: DEBUG on (the development secret key,
# localhost hosts, admin/admin). Everything else defaults to DEBUG off.
export DEBUG=${DEBUG:-1}
ADDR=${JOINTLY_ADDR:-127.0.0.1:8000}
# The base install: quick. JOINTLY_EXTRAS=demo adds scikit-image's photographs pre-labeled by
# MediaPipe (about 3 more minutes of install here);
# JOINTLY_EXTRAS=dev,ml,mediapipe installs what the tests need too.
JOINTLY_EXTRAS=${JOINTLY_EXTRAS-} bash scripts/setup.sh
PY=.venv/bin/python
$PY manage.py migrate --noinput
$PY manage.py load_skeleton_presets
$PY manage.py ensure_admin
$PY manage.py demo --size "${JOINTLY_DEMO_SIZE:-200}" --addr "$ADDR"
exec $PY manage.py runserver "$ADDR"
