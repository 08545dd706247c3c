"""RQ entry points of the review app: thin wrappers that call services.

`score_image` is enqueued by the assignment engine on the `scoring` queue
exactly once per image, in the transaction that stores the image's last
replica (annotation/engine/). The scoring jobs are idempotent: running one
twice leaves the same rows. `propose_sigmas` (started from the project
admin, see review/admin.py) proposes a new skeleton version each time it
succeeds, as a person asking twice would.
"""

from __future__ import annotations


def score_image(image_id: int, progress=None) -> dict:
    """Agreement, consensus and the accept/review decision for one image."""
    from .services.scoring import score_images

    return score_images([image_id], progress=progress)


def score_project(project_id: int, progress=None, batch_size: int | None = None) -> dict:
    """Re-score a whole project together and store its quality report (rows written in batches)."""
    from annotation.models import Project

    from .services.scoring import RESCORE_BATCH
    from .services.scoring import score_project as score

    report = score(Project.objects.get(pk=project_id), progress=progress, batch_size=batch_size or RESCORE_BATCH)
    return {"project_id": project_id, "images_scored": report.n_images}


def propose_sigmas(project_id: int, progress=None) -> dict:
    """Re-score a project and propose its learned sigmas as a new skeleton version."""
    from annotation.models import Project

    from .services.sigmas import propose_sigmas as propose

    skeleton, changes = propose(Project.objects.select_related("skeleton").get(pk=project_id), progress=progress)
    return {"project_id": project_id, "skeleton_id": skeleton.pk, "skeleton": str(skeleton), "changes": changes}
