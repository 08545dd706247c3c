"""RQ entry points of the review app: thin wrappers that call services.

`score_image` is enqueued by the assignment engine on the `scoring` queue
exactly once per image, in the transaction that stores the image's last
replica (annotation/services/assignments.py). The agreement work (matching,
OKS, consensus, routing to review) is supplied by the agreement issue; until
then this entry point is a real, idempotent no-op so the pipeline is wired
end to end and a worker can run it.
"""

from __future__ import annotations


def score_image(image_id: int, progress=None) -> dict:
    """Score the replicas of one image. Idempotent: running it twice leaves the same rows."""
    from annotation.models import Annotation, Image

    image = Image.objects.filter(pk=image_id).values("id", "status").first()
    if image is None:
        # The image was deleted after its last submit: nothing to score.
        return {"image_id": image_id, "scored": False, "reason": "image no longer exists"}
    replicas = Annotation.objects.filter(image_id=image_id, source=Annotation.Source.ANNOTATOR).count()
    if progress is not None:
        progress(1, 1, f"image {image_id}: {replicas} replicas, agreement scoring not installed yet")
    return {"image_id": image_id, "scored": False, "replicas": replicas, "status": image["status"]}
