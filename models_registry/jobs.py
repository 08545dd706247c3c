"""RQ entry points of the `gpu` queue: thin wrappers around the services."""

from .services import evaluation, prelabel


def prelabel_project(*, run_id: int, progress) -> dict:
    return prelabel.run_prelabel(run_id, progress)


def evaluate_model(*, model_version_id: int, project_id: int, options: dict, progress) -> dict:
    return evaluation.run_evaluation(model_version_id, project_id, options, progress)
