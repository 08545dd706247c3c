"""The agreement engine is pure NumPy: its tests need neither a database nor Django.

The suite-wide ``tests/conftest.py`` makes every test wait for PostgreSQL
(``_require_postgresql``) and patch Django settings. These kernels touch
neither, so the two autouse fixtures are overridden here with no-ops: the
tests run anywhere (``-p no:django`` included), and inside the full suite
they simply skip that setup.
"""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _require_postgresql():
    yield


@pytest.fixture(autouse=True)
def _in_process_jobs_and_tmp_media():
    yield
