"""`manage.py import_coco <project_id> <file>`: import a COCO keypoints file, all-or-nothing."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.management.command_support import TqdmProgress, project_or_error
from annotation.services.coco_import import IMPORT_SOURCES, CocoImportFailed, ImportOptions, import_coco


class Command(BaseCommand):
    help = (
        "Import a COCO keypoints file into a project (the same service as the API's job). "
        "A file with any error imports nothing and every error is printed."
    )

    def add_arguments(self, parser):
        parser.add_argument("project_id", type=int)
        parser.add_argument("file", type=Path)
        parser.add_argument("--source", choices=IMPORT_SOURCES, default="import")
        parser.add_argument("--category-id", type=int, default=None)
        parser.add_argument("--create-missing-images", action="store_true",
                            help="Create image records for file names the project does not have.")
        parser.add_argument("--image-root", default="",
                            help="Storage folder (relative to MEDIA_ROOT) that created records point into.")
        parser.add_argument("--dry-run", action="store_true", help="Check everything, write nothing.")

    def handle(self, *args, project_id, file, **options):
        project = project_or_error(project_id)
        if not file.is_file():
            raise CommandError(f"{file} is not a file.")
        progress = TqdmProgress("import", "%", options["verbosity"], percent=True)

        opts = ImportOptions(
            source=options["source"], create_missing_images=options["create_missing_images"],
            image_root=options["image_root"], category_id=options["category_id"],
        )
        try:
            with open(file, "rb") as handle:
                result = import_coco(project, handle, opts, dry_run=options["dry_run"], progress=progress)
        except CocoImportFailed as exc:
            progress.close()
            for section, messages in exc.errors.items():
                for message in messages:
                    self.stderr.write(f"[{section}] {message}")
            raise CommandError(str(exc)) from None
        progress.close()
        for warning in result.get("warnings", []):
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(json.dumps({k: v for k, v in result.items() if k != "warnings"}))
