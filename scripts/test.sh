#!/usr/bin/env bash
# Run the test suite against the real PostgreSQL and Redis. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/services.sh >/dev/null
# Browser tests drive Debian's Chromium (Playwright's own download is not reachable here).
if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium for the browser tests"
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/jointly}
export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/9}
exec .venv/bin/python -m pytest "$@"
