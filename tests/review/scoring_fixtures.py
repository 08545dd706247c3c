"""A scored-project world: simulated annotators' labels stored as real rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.contrib.auth import get_user_model
from django.utils import timezone

from annotation.models import Annotation, Assignment, Image, Membership, Organization, Project, Skeleton, Vendor
from annotation.services.presets import load_presets
from review.agreement.simulate import SimulatedProject, simulate_project


@dataclass
class ScoredWorld:
    project: Project
    images: list[Image]
    annotators: list
    sim: SimulatedProject
    manager: object
    qa_lead: object


def instances_by_image_and_source(sim: SimulatedProject) -> dict[tuple[int, int], list[dict]]:
    """The simulated instances as stored JSON, grouped by (image, annotator) index."""
    batch = sim.batch
    kp = np.concatenate([batch.xy, batch.v[..., None].astype(np.float64)], axis=2)
    kp[batch.v == 0, :2] = 0
    flat = kp.reshape(len(batch), -1).tolist()
    grouped: dict[tuple[int, int], list[dict]] = {}
    for row, image, source, box in zip(flat, batch.image.tolist(), batch.source.tolist(), batch.bbox.tolist()):
        keypoints = [c if i % 3 != 2 else int(c) for i, c in enumerate(row)]
        grouped.setdefault((image, source), []).append({"bbox": box, "keypoints": keypoints})
    return grouped


def make_scored_world(n_images=12, *, auto_accept_oks=0.5, review_sample_rate=0.0, seed=3, **sim_options) -> ScoredWorld:
    load_presets()
    skeleton = Skeleton.objects.get(name="coco-17-person", version=1)
    org = Organization.objects.create(name=f"org{seed}")
    vendor = Vendor.objects.create(name=f"vendor{seed}")
    project = Project.objects.create(
        organization=org, name="scoring", skeleton=skeleton, replicas=3,
        auto_accept_oks=auto_accept_oks, review_sample_rate=review_sample_rate,
    )
    project.vendors.add(vendor)
    options = dict(noise=0.5, miss_keypoint_rate=0.0, visibility_flip_rate=0.0, people=(1, 2), seed=seed)
    options.update(sim_options)
    sim = simulate_project(n_images, n_annotators=3, **options)
    User = get_user_model()
    annotators = [User.objects.create_user(f"ann{seed}_{s}") for s in range(3)]
    for user in annotators:
        Membership.objects.create(user=user, role=Membership.Role.ANNOTATOR, vendor=vendor)
    manager = User.objects.create_user(f"pm{seed}")
    Membership.objects.create(user=manager, role=Membership.Role.PROJECT_MANAGER, organization=org)
    qa_lead = User.objects.create_user(f"qa{seed}")
    Membership.objects.create(user=qa_lead, role=Membership.Role.QA_LEAD, organization=org)
    width, height = (int(c) for c in sim.image_size[0])
    images = Image.objects.bulk_create(
        Image(project=project, file=f"i{i}.jpg", file_name=f"i{i}.jpg", width=width, height=height,
              sha256=f"{seed:04d}{i:060d}", status=Image.Status.SCORING, submitted_count=3, slots_taken=3)
        for i in range(n_images)
    )
    now = timezone.now()
    grouped = instances_by_image_and_source(sim)
    annotations = Annotation.objects.bulk_create(
        Annotation(image=images[i], source=Annotation.Source.ANNOTATOR, annotator=annotators[s],
                   instances=grouped.get((i, s), []))
        for i in range(n_images) for s in range(3)
    )
    Assignment.objects.bulk_create(
        Assignment(project=project, image=a.image, annotator=a.annotator, state=Assignment.State.SUBMITTED,
                   leased_at=now, lease_expires_at=now, submitted_at=now, annotation=a)
        for a in annotations
    )
    return ScoredWorld(project=project, images=images, annotators=annotators, sim=sim, manager=manager,
                       qa_lead=qa_lead)
