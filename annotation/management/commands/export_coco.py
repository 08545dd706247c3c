"""`manage.py export_coco <project_id> <out.json>`: write a project's COCO keypoints file."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.models import Project
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
        try:
            project = Project.objects.select_related("skeleton").get(pk=project_id)
        except Project.DoesNotExist:
            raise CommandError(f"No project with id {project_id}.") from None
        try:
            selection = selection_from_params({"source": source, "annotator": annotator, "model": model})
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        bar = tqdm(unit="image", desc="export", disable=options["verbosity"] == 0)

        def progress(done, total=None, message=""):
            bar.total = total
            bar.update(done - bar.n)
            bar.set_postfix_str(message)

        size = write_coco(project, output, selection, progress)
        bar.close()
        self.stdout.write(f"Wrote {output} ({size} bytes).")
