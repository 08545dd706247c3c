"""Job functions the job tests enqueue (importable by a real worker process)."""

from django.contrib.auth import get_user_model


def create_users(progress, names):
    """Idempotent: creating the same users twice leaves one row each."""
    User = get_user_model()
    for i, name in enumerate(names, 1):
        User.objects.get_or_create(username=name)
        progress(i, len(names), f"user {name}")
    return {"created": len(names)}


def explode(progress):
    progress(1, 2, "half way")
    raise RuntimeError("the model file is corrupt")


def create_then_collide(progress, name):
    """Writes a row, then breaks a unique constraint: the database error must not escape the job."""
    User = get_user_model()
    User.objects.create(username=f"{name}-scratch")
    User.objects.create(username=name)


def create_users_in_one_transaction(progress, prefix, count, die_once_marker=None):
    """Creates `count` users in one transaction, reporting progress half way. With a marker
    file path, the first run SIGKILLs its own work-horse there (and leaves the marker)."""
    import os
    import signal
    from pathlib import Path

    from django.db import transaction

    User = get_user_model()
    with transaction.atomic():
        for i in range(count):
            User.objects.get_or_create(username=f"{prefix}{i}")
            if i + 1 == count // 2:
                progress(i + 1, count, "half way")
                if die_once_marker and not Path(die_once_marker).exists():
                    Path(die_once_marker).touch()
                    os.kill(os.getpid(), signal.SIGKILL)
    return {"created": count}
