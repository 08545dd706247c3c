"""Seed a scratch database for scripts/fuzz_api.py and print one API token per role as JSON.

Run with DJANGO_SETTINGS_MODULE and DATABASE_URL of the scratch database set.
The world: one organization with a project (COCO-17, instructions, images),
one vendor granted the project, and one user per role.
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jointly.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from annotation.models import (  # noqa: E402
    Image, Instructions, InstructionsAcknowledgement, Membership, Organization, Project, ProjectAnnotator, Skeleton, Vendor,
)
from annotation.services.presets import load_presets  # noqa: E402

Role = Membership.Role
User = get_user_model()

load_presets()
organization = Organization.objects.create(name="Fuzz org")
vendor = Vendor.objects.create(name="Fuzz vendor")
vendor.organizations.add(organization)
instructions = Instructions.objects.create(organization=organization, title="Guide", body="Click every joint.")
project = Project.objects.create(
    organization=organization, name="Fuzz project", skeleton=Skeleton.objects.get(name="coco-17-person", version=1),
    instructions=instructions, replicas=2,
)
project.vendors.add(vendor)
Image.objects.bulk_create(
    Image(project=project, file=f"projects/{project.pk}/{i}.jpg", file_name=f"{i}.jpg", width=640, height=480,
          sha256=f"{i:064d}")
    for i in range(5)
)
users = {
    "admin": User.objects.create_user("fuzz-admin", is_staff=True, is_superuser=True),
    "project_manager": User.objects.create_user("fuzz-pm"),
    "vendor_manager": User.objects.create_user("fuzz-vm"),
    "annotator": User.objects.create_user("fuzz-annotator"),
}
Membership.objects.create(user=users["project_manager"], role=Role.PROJECT_MANAGER, organization=organization)
Membership.objects.create(user=users["vendor_manager"], role=Role.VENDOR_MANAGER, vendor=vendor)
Membership.objects.create(user=users["annotator"], role=Role.ANNOTATOR, vendor=vendor)
ProjectAnnotator.objects.create(project=project, user=users["annotator"], vendor=vendor)
InstructionsAcknowledgement.objects.create(user=users["annotator"], instructions=instructions, version=1,
                                           acknowledged_at=timezone.now())
print(json.dumps({role: Token.objects.create(user=user).key for role, user in users.items()}))
