import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create a first superuser for a fresh install (DEBUG only unless a password is given)."

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("A superuser exists already.")
            return
        username = os.environ.get("JOINTLY_ADMIN_USER", "admin")
        password = os.environ.get("JOINTLY_ADMIN_PASSWORD")
        if not password:
            if not settings.DEBUG:
                raise CommandError("Set JOINTLY_ADMIN_PASSWORD: no default password outside DEBUG.")
            password = "admin"
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(f"Created superuser '{username}' with password '{password}'. Change it.")
