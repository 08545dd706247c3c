#!/usr/bin/env bash
# Run the test suite against the real PostgreSQL and Redis. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/services.sh >/dev/null
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/jointly}
export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/9}
exec .venv/bin/python -m pytest "$@"
