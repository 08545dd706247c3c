"""Which implementation of the engine's statements runs: PostgreSQL's, or the ORM reference.

`reference.py` (the ORM) is the readable definition and what SQLite, the
embedded default, runs. `postgres.py` writes the same steps as single
statements. Both offer the same functions; the tests run every engine test
through both on PostgreSQL (tests/annotation/factories.py `engine_path`).
"""

from __future__ import annotations

from contextlib import nullcontext
from types import ModuleType

from django.db import connection, transaction

#: Tests switch this off to run the reference on PostgreSQL too.
ONE_STATEMENT_PATHS = True


def postgres_statements() -> bool:
    return ONE_STATEMENT_PATHS and connection.vendor == "postgresql"


def statements() -> ModuleType:
    """The module whose statements this connection runs."""
    from . import postgres, reference

    return postgres if postgres_statements() else reference


def lock(queryset, *, skip_locked: bool = False):
    """select_for_update where the backend has it; SKIP LOCKED where supported.

    SQLite has neither; there, IMMEDIATE transactions (see settings) serialize the writers.
    """
    if not connection.features.has_select_for_update:
        return queryset
    skip = skip_locked and connection.features.has_select_for_update_skip_locked
    return queryset.select_for_update(skip_locked=skip)


def statement_of_its_own():
    """Outside a transaction a statement is its own; inside one, a savepoint keeps a
    constraint violation (a concurrent double click) from breaking the caller's."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()
