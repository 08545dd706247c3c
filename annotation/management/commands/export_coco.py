"""`manage.py export_coco <project_id> <out.json>`: write a project's COCO keypoints file."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotation.management.command_support import TqdmProgress, project_or_error
from annotation.services.coco_export import selection_from_params, write_coco


class Command(BaseCommand):
    help = "Export accepted ground truth (default) or one source as a COCO keypoints file, streamed to disk."

    def add_arguments(self, parser):
        parser.add_argument("project_id", type=int)
        parser.add_argument("output", type=Path)
        parser.add_argument("--source", default="accepted",
                            help="accepted (review, else consensus, of accepted images) or one annotation source.")
        parser.add_argument("--annotator", type=int, default=None)
        parser.add_argument("--model", type=int, default=None)

    def handle(self, *args, project_id, output, source, annotator, model, **options):
        project = project_or_error(project_id)
        try:
            selection = selection_from_params({"source": source, "annotator": annotator, "model": model})
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        progress = TqdmProgress("export", "image", options["verbosity"])
        size = write_coco(project, output, selection, progress)
        progress.close()
        self.stdout.write(f"Wrote {output} ({size} bytes).")
