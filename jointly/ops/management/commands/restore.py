"""`manage.py restore FOLDER --yes`: replace the database and media files with a backup."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from jointly.ops.backup import BackupError, restore_backup
from jointly.ops.database_url import current_database_url


class Command(BaseCommand):
    help = "Restore a folder written by `manage.py backup` into DATABASE_URL and MEDIA_ROOT (replaces them)."

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("--yes", action="store_true", help="Confirm: the current data is replaced.")

    def handle(self, *args, folder, yes, **options):
        if not yes:
            raise CommandError("Restoring replaces the database and media files; pass --yes to go ahead.")
        try:
            manifest = restore_backup(folder, database_url=current_database_url(), media_root=settings.MEDIA_ROOT)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"restored the backup of {manifest['created_at']} ({manifest['media_files']} media files)")
