"""A project with annotators, a QA lead and a manager, labeled through the real API.

People are drawn from one COCO-17 template (a person facing the camera), each
annotator with their own small noise; `swapped` mirrors left and right the
way a confused annotator does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from rest_framework.test import APIClient

from annotation.models import Membership, Organization, Project, Skeleton, Vendor
from annotation.services.presets import load_presets
from tests.annotation.factories import grant, make_annotator, make_images, make_user, unique

Role = Membership.Role
PERSON = np.array([
    (300, 100), (310, 90), (290, 90), (320, 95), (280, 95), (340, 150), (260, 150), (360, 210), (240, 210),
    (370, 270), (230, 270), (325, 280), (275, 280), (330, 360), (270, 360), (335, 440), (265, 440),
], dtype=np.float64)
FLIP_PAIRS = [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)]
BOX = [220.0, 80.0, 170.0, 370.0]


def person(*, noise: float = 1.5, seed: int = 0, swapped: bool = False, shift=(0.0, 0.0)) -> dict:
    xy = PERSON + np.random.default_rng(seed).normal(0, noise, PERSON.shape) + np.asarray(shift)
    xy = np.clip(xy, 0, [639, 479])  # a sloppy click still lands on the 640x480 image
    if swapped:
        for a, b in FLIP_PAIRS:
            xy[[a, b]] = xy[[b, a]]
    keypoints = []
    for x, y in np.round(xy, 2).tolist():
        keypoints += [x, y, 2]
    return {"bbox": list(BOX), "keypoints": keypoints}


def client_of(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@dataclass
class ReviewWorld:
    project: Project
    images: list
    annotators: list
    qa_lead: object
    manager: object
    vendor: Vendor
    vendor_manager: object
    outsider_qa_lead: object
    clients: dict = field(default_factory=dict)

    def client(self, user) -> APIClient:
        if user.pk not in self.clients:
            self.clients[user.pk] = client_of(user)
        return self.clients[user.pk]

    def next_task(self, user):
        return self.client(user).post(f"/api/v1/projects/{self.project.pk}/tasks/next/")

    def submit(self, user, assignment_id: int, instances: list[dict]):
        return self.client(user).post(f"/api/v1/assignments/{assignment_id}/submit/",
                                      {"instances": instances, "active_ms": 20000}, format="json")

    def label_all(self, labels_for, only=None) -> dict:
        """Every annotator (or those indexed in `only`) asks for tasks until none is left and
        submits labels_for(annotator index, image id). Returns {(annotator index, image id): assignment id}."""
        done = {}
        for n, user in enumerate(self.annotators):
            if only is not None and n not in only:
                continue
            while True:
                response = self.next_task(user)
                if response.status_code in (204, 403):  # nothing left, or paused
                    break
                assert response.status_code in (200, 201), response.content
                task = response.json()
                submitted = self.submit(user, task["id"], labels_for(n, task["image"]["id"]))
                assert submitted.status_code in (200, 201), submitted.content
                done[(n, task["image"]["id"])] = task["id"]
        return done

    def review_next(self, user=None):
        return self.client(user or self.qa_lead).post(f"/api/v1/projects/{self.project.pk}/reviews/next/")

    def decide(self, task_id: int, body: dict, user=None):
        return self.client(user or self.qa_lead).post(f"/api/v1/reviews/{task_id}/decide/", body, format="json")


def make_review_world(n_images: int = 2, *, annotators: int = 3, **project_fields) -> ReviewWorld:
    load_presets()
    skeleton = Skeleton.objects.get(name="coco-17-person", version=1)
    org = Organization.objects.create(name=unique("org"))
    vendor = Vendor.objects.create(name=unique("vendor"))
    fields = {"replicas": 3, "auto_accept_oks": 0.8, "review_sample_rate": 0.0, **project_fields}
    project = Project.objects.create(organization=org, name=unique("project"), skeleton=skeleton, **fields)
    project.vendors.add(vendor)
    qa_lead, manager, vendor_manager = make_user(), make_user(), make_user()
    grant(qa_lead, Role.QA_LEAD, organization=org)
    grant(manager, Role.PROJECT_MANAGER, organization=org)
    grant(vendor_manager, Role.VENDOR_MANAGER, vendor=vendor)
    other_org = Organization.objects.create(name=unique("org"))
    outsider_qa_lead = make_user()
    grant(outsider_qa_lead, Role.QA_LEAD, organization=other_org)
    return ReviewWorld(
        project=project, images=make_images(project, n_images),
        annotators=[make_annotator(project, vendor) for _ in range(annotators)],
        qa_lead=qa_lead, manager=manager, vendor=vendor, vendor_manager=vendor_manager,
        outsider_qa_lead=outsider_qa_lead,
    )
