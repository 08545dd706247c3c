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
