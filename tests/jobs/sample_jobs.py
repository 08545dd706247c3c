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
