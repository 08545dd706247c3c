"""`manage.py backup FOLDER`: pg_dump of DATABASE_URL plus the media folder (see jointly/ops/backup.py)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from jointly.ops.backup import BackupError, create_backup
from jointly.ops.database_url import current_database_url


class Command(BaseCommand):
    help = "Back up the PostgreSQL database and MEDIA_ROOT into a new folder."

    def add_arguments(self, parser):
        parser.add_argument("folder", help="A folder that does not exist yet.")

    def handle(self, *args, folder, **options):
        try:
            manifest = create_backup(folder, database_url=current_database_url(), media_root=settings.MEDIA_ROOT)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"backed up the database ({manifest['database_bytes']} bytes) and "
                          f"{manifest['media_files']} media files to {folder}")
