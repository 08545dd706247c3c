"""The demo's cast and project, created through the product's services; every step idempotent.

Names are fixed (organization "Demo", project "Demo - people"), so a second
run finds what the first made instead of making it again. `reset` removes
exactly what the demo made, and nothing else.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

from django.contrib.auth import get_user_model
from django.db import transaction

from annotation.models import Annotation, Image, Membership, Organization, Project, Skeleton, Vendor
from annotation.services import workforce
from annotation.services.images import Candidate, register_images
from annotation.services.presets import load_presets
from annotation.services.projects import create_project

from .figures import render_scene
from .models import TrueLabel
from .people import CAST, QA_LEAD

Role = Membership.Role
User = get_user_model()
ORGANIZATION = "Demo"
VENDOR = "Demo Labeling Co."
PROJECT = "Demo - people"
PASSWORD = "jointly-demo"
VENDOR_MANAGER = "vendor_manager"
#: Replicas 3, and up to 5 for an image whose agreement does not settle (adaptive replicas).
PROJECT_FIELDS = {
    "replicas": 3, "max_replicas": 5, "auto_accept_oks": 0.85, "review_sample_rate": 0.05,
    "qualification_images": 3, "qualification_oks": 0.6, "gold_rate": 0.05,
    "description": "Made by `python manage.py demo`: rendered figures with known truth, labeled by simulated people.",
}
GOLD_SHARE = 0.08  # of the rendered images, kept as gold (qualification and the gold mix)
REGISTER_BATCH = 50


@dataclass
class DemoWorld:
    organization: Organization
    vendor: Vendor
    project: Project
    annotators: dict  # username -> User, in CAST order
    qa_lead: object
    vendor_manager: object


def _user(username: str, **fields):
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User(username=username, **fields)
        user.set_password(PASSWORD)
        user.save()
    return user


@transaction.atomic
def build_world() -> DemoWorld:
    """Organization, vendor with its manager, QA lead, eight annotators staffed on a COCO-17 project."""
    load_presets()
    organization, _ = Organization.objects.get_or_create(name=ORGANIZATION)
    vendor = organization.vendors.filter(name=VENDOR).first() or Vendor.objects.create(name=VENDOR)
    vendor.organizations.add(organization)  # a project is only granted to vendors working for its organization
    manager = _user(VENDOR_MANAGER, first_name="Vera", last_name="Manager")
    Membership.objects.get_or_create(user=manager, vendor=vendor, role=Role.VENDOR_MANAGER)
    qa_lead = _user(QA_LEAD.username, first_name="Quinn", last_name="Lead")
    Membership.objects.get_or_create(user=qa_lead, organization=organization, role=Role.QA_LEAD)
    project = Project.objects.filter(organization=organization, name=PROJECT).first()
    if project is None:
        skeleton = Skeleton.objects.filter(name="coco-17-person").order_by("version").first()
        project = create_project(organization=organization, skeleton=skeleton, vendors=[vendor], name=PROJECT,
                                 **PROJECT_FIELDS)
    annotators = {}
    for behaviour in CAST:
        # Named by the demo as staff would (`ann_*`), not in the vendor's namespace.
        user = _user(behaviour.username)
        Membership.objects.get_or_create(user=user, vendor=vendor, role=Role.ANNOTATOR)
        workforce.staff_annotator(vendor, user_id=user.pk, project_id=project.pk)
        annotators[behaviour.username] = user
    return DemoWorld(organization, vendor, project, annotators, qa_lead, manager)


def build_dataset(project: Project, size: int, progress: Callable[[int], None] = lambda n: None) -> int:
    """Render `size` scenes (seeds 0..size-1), register the ones not yet there, record their truth and
    make the first GOLD_SHARE of them gold (their truth is the gold label). Returns images added."""
    have = set(Image.objects.filter(project=project, demo_truth__isnull=False).values_list("file_name", flat=True))
    added = 0
    seeds = [seed for seed in range(size) if render_name(seed) not in have]
    progress(size - len(seeds))
    n_gold = max(project.qualification_images + 2, int(round(GOLD_SHARE * size)))
    for start in range(0, len(seeds), REGISTER_BATCH):
        scenes = [render_scene(seed) for seed in seeds[start:start + REGISTER_BATCH]]
        scenes = [s for s in scenes if s.instances]
        with transaction.atomic():
            register_images(project, [
                Candidate(file_name=s.name, fileobj=io.BytesIO(s.jpeg), size=len(s.jpeg)) for s in scenes
            ], partial=True)
            images = {im.file_name: im for im in Image.objects.filter(project=project, file_name__in=[s.name for s in scenes])}
            TrueLabel.objects.bulk_create(
                [TrueLabel(image=images[s.name], instances=s.instances) for s in scenes], ignore_conflicts=True)
            gold = [images[s.name] for s in scenes if _seed(s.name) < n_gold]
            Image.objects.filter(pk__in=[im.pk for im in gold]).update(is_gold=True)
            Annotation.objects.bulk_create([
                Annotation(image=im, source=Annotation.Source.GOLD, instances=s.instances)
                for s in scenes for im in gold if im.file_name == s.name
            ])
        added += len(scenes)
        progress(len(seeds[start:start + REGISTER_BATCH]))
    return added


def render_name(seed: int) -> str:
    return f"figures_{seed:05d}.jpg"


def _seed(name: str) -> int:
    return int(name.split("_")[1].split(".")[0])


def reset() -> str:
    """Start over: the previous demo is archived under new names (inactive), so the fixed names are free.

    Nothing is deleted: review decisions are an append-only audit trail
    (PostgreSQL refuses to delete them), and the archived project keeps its
    history for anyone who wants to compare.
    """
    project = Project.objects.filter(organization__name=ORGANIZATION, name=PROJECT).first()
    if project is None:
        return "nothing to reset"
    suffix = f"archived-{project.pk}"
    names = [b.username for b in CAST] + [QA_LEAD.username, VENDOR_MANAGER]
    with transaction.atomic():
        Project.objects.filter(pk=project.pk).update(name=f"{PROJECT} ({suffix})", is_active=False)
        Organization.objects.filter(name=ORGANIZATION).update(name=f"{ORGANIZATION} ({suffix})")
        Vendor.objects.filter(organizations=project.organization_id, name=VENDOR).update(name=f"{VENDOR} ({suffix})")
        for user in User.objects.filter(username__in=names):
            user.username, user.is_active = f"{user.username}.{suffix}"[:150], False
            user.save(update_fields=["username", "is_active"])
    return f"archived the previous demo as '{PROJECT} ({suffix})'"
