"""`manage.py import_coco <project_id> <file>`: import a COCO keypoints file, all-or-nothing."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.models import Project
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
        try:
            project = Project.objects.select_related("skeleton").get(pk=project_id)
        except Project.DoesNotExist:
            raise CommandError(f"No project with id {project_id}.") from None
        if not file.is_file():
            raise CommandError(f"{file} is not a file.")
        bar = tqdm(total=100, unit="%", desc="import", disable=options["verbosity"] == 0)

        def progress(done, total=None, message=""):
            fraction = done / total if total else done
            bar.update(round(100 * min(1.0, fraction)) - bar.n)
            bar.set_postfix_str(message)

        opts = ImportOptions(
            source=options["source"], create_missing_images=options["create_missing_images"],
            image_root=options["image_root"], category_id=options["category_id"],
        )
        try:
            with open(file, "rb") as handle:
                result = import_coco(project, handle, opts, dry_run=options["dry_run"], progress=progress)
        except CocoImportFailed as exc:
            bar.close()
            for section, messages in exc.errors.items():
                for message in messages:
                    self.stderr.write(f"[{section}] {message}")
            raise CommandError(str(exc)) from None
        bar.close()
        for warning in result.get("warnings", []):
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(json.dumps({k: v for k, v in result.items() if k != "warnings"}))
