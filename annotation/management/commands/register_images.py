"""`manage.py register_images <project_id> <folder>`: register every image under a folder."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotation.management.command_support import TqdmProgress, project_or_error
from annotation.services.images import register_folder


class Command(BaseCommand):
    help = (
        "Register every image under a folder (recursively) in a project: checked by Pillow, hashed, "
        "duplicates skipped. Files are copied into storage unless --in-place."
    )

    def add_arguments(self, parser):
        parser.add_argument("project_id", type=int)
        parser.add_argument("folder", type=Path)
        parser.add_argument(
            "--in-place", action="store_true",
            help="Reference the files where they are (they must be under MEDIA_ROOT) instead of copying them.",
        )
        parser.add_argument("--batch-size", type=int, default=200)

    def handle(self, *args, project_id, folder, in_place, batch_size, **options):
        project = project_or_error(project_id)
        progress = TqdmProgress("registering", "file", options["verbosity"])
        try:
            result = register_folder(project, folder, in_place=in_place, batch_size=batch_size, progress=progress)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        finally:
            progress.close()
        for item in result.results:
            if item.status == "rejected":
                self.stderr.write(f"rejected {item.file_name}: {item.reason}")
            elif item.status == "duplicate" and options["verbosity"] > 1:
                self.stdout.write(f"duplicate {item.file_name}: {item.reason}")
        self.stdout.write(
            f"{result.count('created')} registered, {result.count('duplicate')} duplicate(s) skipped, "
            f"{result.count('rejected')} rejected."
        )
