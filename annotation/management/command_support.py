"""What the project commands share: finding the project and showing a job's progress with tqdm."""

from django.core.management.base import CommandError
from tqdm import tqdm

from annotation.models import Project


def project_or_error(project_id: int) -> Project:
    try:
        return Project.objects.select_related("skeleton").get(pk=project_id)
    except Project.DoesNotExist:
        raise CommandError(f"No project with id {project_id}.") from None


class TqdmProgress:
    """A tqdm bar fed by the services' `progress(done, total, message)` callback.

    With `percent`, `done / total` is shown as a percentage (for services that
    report fractions of their work); otherwise `done` counts items of `total`.
    """

    def __init__(self, desc: str, unit: str, verbosity: int, *, percent: bool = False):
        self.percent = percent
        self.bar = tqdm(total=100 if percent else None, unit="%" if percent else unit, desc=desc,
                        disable=verbosity == 0)

    def __call__(self, done, total=None, message: str = "") -> None:
        if self.percent:
            fraction = done / total if total else done
            self.bar.update(round(100 * min(1.0, fraction)) - self.bar.n)
        else:
            self.bar.total = total
            self.bar.update(done - self.bar.n)
        self.bar.set_postfix_str(message)

    def close(self) -> None:
        self.bar.close()
