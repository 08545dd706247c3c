#!/usr/bin/env bash
# Create .venv and install Jointly with the extras in JOINTLY_EXTRAS (default dev,ml,mediapipe:
# everything the tests need; the quick start asks for less). Idempotent and quick when nothing
# changed (a stamp keyed on pyproject.toml and the extras).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
EXTRAS=${JOINTLY_EXTRAS-dev,ml,mediapipe}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.jointly-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $EXTRAS"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  case ",$EXTRAS," in
    *,ml,*)
      # torch first, pinned: this version is a local CPU build; any other spec
      # would pull gigabytes of CUDA packages.
      .venv/bin/python -m pip install --quiet "torch==2.13.0" ;;
  esac
  .venv/bin/python -m pip install --quiet -e ".${EXTRAS:+[$EXTRAS]}"
  echo "$want" > "$stamp"
fi
