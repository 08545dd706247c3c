"""Test data for the workforce and assignment tests, written straight through the ORM.

Projects and images are made here rather than through the projects API, so
these tests depend only on the models. `World` builds the cast every
permission test needs: two vendors, an organization and one user per role.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone as django_timezone
from rest_framework.test import APIClient

from annotation.models import (
    Image, Instructions, Keypoint, Membership, Organization, Project, ProjectAnnotator, Skeleton, Vendor,
)

Role = Membership.Role
_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}"


def make_skeleton(num_keypoints: int = 17) -> Skeleton:
    skeleton = Skeleton.objects.create(name=unique("person"))
    Keypoint.objects.bulk_create(
        Keypoint(skeleton=skeleton, order=i, name=f"kp{i}", sigma=0.05) for i in range(num_keypoints)
    )
    return skeleton


def make_project(organization=None, *, vendors=(), skeleton=None, **fields) -> Project:
    project = Project.objects.create(
        organization=organization or Organization.objects.create(name=unique("org")),
        name=unique("project"), skeleton=skeleton or make_skeleton(), **fields,
    )
    if vendors:
        project.vendors.add(*vendors)
        for vendor in vendors:  # a vendor granted a project works for its organization
            vendor.organizations.add(project.organization)
    return project


def make_images(project: Project, count: int, *, width: int = 640, height: int = 480, **fields) -> list[Image]:
    images = []
    for _ in range(count):
        n = next(_counter)
        images.append(Image(
            project=project, file=f"projects/{project.pk}/img{n}.jpg", file_name=f"img{n}.jpg",
            width=width, height=height, sha256=hashlib.sha256(str(n).encode()).hexdigest(), **fields,
        ))
    Image.objects.bulk_create(images)
    return list(Image.objects.filter(project=project, pk__in=[i.pk for i in images]).order_by("id"))


def make_user(username: str | None = None, **fields):
    # No password: hashing one costs ~0.5 s of CPU, and API tests authenticate directly.
    return get_user_model().objects.create_user(username or unique("user"), password=None, **fields)


def grant(user, role: str, *, vendor=None, organization=None) -> Membership:
    return Membership.objects.create(user=user, role=role, vendor=vendor, organization=organization)


def make_annotator(project: Project, vendor: Vendor, username: str | None = None):
    """A user who is an active annotator of `vendor` and staffed on `project` through it."""
    user = make_user(username)
    grant(user, Role.ANNOTATOR, vendor=vendor)
    ProjectAnnotator.objects.create(project=project, user=user, vendor=vendor)
    return user


def client_for(user, *, token: bool = False) -> APIClient:
    """An API client signed in as `user` (None: anonymous): with token=True through a real
    `Authorization: Token` header, as API clients sign in, else DRF's forced authentication."""
    client = APIClient()
    if user is not None and token:
        from rest_framework.authtoken.models import Token

        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    elif user is not None:
        client.force_authenticate(user)
    return client


def instance(num_keypoints: int = 17, *, x: float = 100.0, y: float = 100.0) -> dict:
    """One valid instance: a box and every keypoint visible inside it."""
    keypoints = []
    for i in range(num_keypoints):
        keypoints += [x + 2.0 * i, y + 3.0 * i, 2]
    return {"bbox": [x - 5, y - 5, 2.0 * num_keypoints + 10, 3.0 * num_keypoints + 10], "keypoints": keypoints}


@dataclass
class World:
    """Organization O owns project P, granted to vendors A and B; one user per role."""

    organization: Organization
    vendor_a: Vendor
    vendor_b: Vendor
    project: Project
    images: list[Image]
    users: dict[str, object] = field(default_factory=dict)

    def __getitem__(self, role: str):
        return self.users[role]


def make_world(*, images: int = 6, replicas: int = 2, **project_fields) -> World:
    organization = Organization.objects.create(name=unique("org"))
    vendor_a = Vendor.objects.create(name=unique("vendorA"))
    vendor_b = Vendor.objects.create(name=unique("vendorB"))
    project = make_project(organization, vendors=[vendor_a, vendor_b], replicas=replicas, **project_fields)
    world = World(organization, vendor_a, vendor_b, project, make_images(project, images))
    users = world.users
    users["staff"] = make_user(is_staff=True, is_superuser=True)
    users["org_admin"] = make_user()
    grant(users["org_admin"], Role.ADMIN, organization=organization)
    users["project_manager"] = make_user()
    grant(users["project_manager"], Role.PROJECT_MANAGER, organization=organization)
    users["org_qa_lead"] = make_user()
    grant(users["org_qa_lead"], Role.QA_LEAD, organization=organization)
    users["vendor_manager_a"] = make_user()
    grant(users["vendor_manager_a"], Role.VENDOR_MANAGER, vendor=vendor_a)
    users["vendor_qa_lead_a"] = make_user()
    grant(users["vendor_qa_lead_a"], Role.QA_LEAD, vendor=vendor_a)
    users["annotator_a"] = make_annotator(project, vendor_a)
    users["annotator_a2"] = make_annotator(project, vendor_a)
    users["vendor_manager_b"] = make_user()
    grant(users["vendor_manager_b"], Role.VENDOR_MANAGER, vendor=vendor_b)
    users["annotator_b"] = make_annotator(project, vendor_b)
    users["outsider"] = make_user()  # signed in, no membership at all
    return world


def with_instructions(project: Project, version: int = 1) -> Instructions:
    instructions = Instructions.objects.create(
        organization=project.organization, title="How to label people", body="# Rules\nClick joints.", version=version,
    )
    project.instructions = instructions
    project.save(update_fields=["instructions"])
    return instructions


class Clock:
    """A controllable `django.utils.timezone.now`: tests move time instead of sleeping."""

    def __init__(self, start: datetime):
        self.now = start

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock(datetime(2026, 3, 2, 9, 0, tzinfo=dt_timezone.utc))
    monkeypatch.setattr(django_timezone, "now", lambda: fake.now)
    return fake


def prefill(images, users, *, state: str = "submitted", leased_at=None, lease_seconds: int = 600) -> None:
    """Give each image one assignment per user in `state` (with an annotation when submitted), in bulk."""
    from annotation.models import Annotation, Assignment
    from annotation.engine import recount_images

    leased_at = leased_at or django_timezone.now()
    assignments = []
    annotations = []
    for image in images:
        for user in users:
            assignments.append(Assignment(
                project_id=image.project_id, image=image, annotator=user, state=state, leased_at=leased_at,
                lease_expires_at=leased_at + timedelta(seconds=lease_seconds),
                submitted_at=leased_at if state == "submitted" else None,
            ))
            if state == "submitted":
                annotations.append(Annotation(image=image, source="annotator", annotator=user, instances=[]))
    Assignment.objects.bulk_create(assignments)
    Annotation.objects.bulk_create(annotations)
    Image.objects.filter(pk__in=[i.pk for i in images]).update(status="annotating")
    recount_images(Image.objects.filter(pk__in=[i.pk for i in images]))


@pytest.fixture(params=["one_statement", "reference"], autouse=True)
def engine_path(request, monkeypatch):
    """Run a module's tests through both sets of engine statements on the same cases:
    PostgreSQL's (annotation/engine/postgres.py) and the ORM reference the embedded
    SQLite runs (annotation/engine/reference.py). Import it to use it."""
    from annotation.engine import paths

    monkeypatch.setattr(paths, "ONE_STATEMENT_PATHS", request.param == "one_statement")
    return request.param
