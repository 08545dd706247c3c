"""Loaded by pytest before Django's settings (addopts `-p tests.debug_env` in pyproject.toml).

The settings default to DEBUG off, which needs a SECRET_KEY and sets secure
cookies; the suite runs as a development machine does (Django's test runner
still turns DEBUG itself off inside tests), so the live-server browser tests
keep their plain-HTTP session cookie.
"""

import os

os.environ.setdefault("DEBUG", "1")
