"""Fixtures and builders shared by the project, image and COCO tests (imported by those modules)."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
from django.apps import apps
from rest_framework.test import APIClient

from annotation.models import Image, Membership, Organization, Project, Vendor
from annotation.services.skeletons import create_skeleton

#: A three-keypoint skeleton with one flip pair: small enough to read in a failing test.
ARM = {
    "name": "arm",
    "supercategory": "person",
    "keypoints": [
        {"name": "left_shoulder", "sigma": 0.079, "flip_partner": "right_shoulder"},
        {"name": "right_shoulder", "sigma": 0.079, "flip_partner": "left_shoulder"},
        {"name": "neck", "sigma": 0.05},
    ],
    "edges": [["left_shoulder", "neck"], ["right_shoulder", "neck"]],
}
ARM_NAMES = [kp["name"] for kp in ARM["keypoints"]]


@pytest.fixture
def arm_skeleton(db):
    return create_skeleton(ARM)


@pytest.fixture
def org(db):
    return Organization.objects.create(name="Acme")


@pytest.fixture
def other_org(db):
    return Organization.objects.create(name="Globex")


@pytest.fixture
def project(org, arm_skeleton):
    return Project.objects.create(organization=org, name="Arms", skeleton=arm_skeleton)


def member_client(django_user_model, username, role, organization=None, vendor=None):
    user = django_user_model.objects.create_user(username, password="pw")
    Membership.objects.create(user=user, role=role, organization=organization, vendor=vendor)
    client = APIClient()
    client.force_authenticate(user)
    client.user = user
    return client


@pytest.fixture
def manager_client(django_user_model, org):
    return member_client(django_user_model, "manager", Membership.Role.PROJECT_MANAGER, organization=org)


@pytest.fixture
def vendor(db, project):
    vendor = Vendor.objects.create(name="Labelers Inc")
    vendor.organizations.add(project.organization)
    project.vendors.add(vendor)
    return vendor


def png_bytes(width=8, height=6, color=(200, 10, 10)) -> bytes:
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(width=32, height=24, color=(10, 200, 10)) -> bytes:
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height), color).save(buffer, format="JPEG")
    return buffer.getvalue()


def png_bomb(width=100_000, height=100_000) -> bytes:
    """A tiny PNG whose header claims a huge image: Pillow must refuse it before decoding."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def annotation_table_counts() -> dict[str, int]:
    """Row count of every table that holds annotation data (annotation, review and model apps).

    Job records are left out on purpose: a refused import leaves its failed job as the record of why.
    """
    return {
        f"{model._meta.app_label}.{model.__name__}": model.objects.count()
        for label in ("annotation", "review", "models_registry")
        for model in apps.get_app_config(label).get_models()
    }


def make_images(project, names, width=640, height=480, **fields):
    return Image.objects.bulk_create(
        Image(project=project, file_name=name, width=width, height=height, **fields) for name in names
    )


def coco_file(images, annotations, keypoint_names=ARM_NAMES, category_id=1, extra_categories=()) -> dict:
    return {
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": category_id, "name": "person", "supercategory": "person", "keypoints": list(keypoint_names),
             "skeleton": [[1, 3], [2, 3]]},
            *extra_categories,
        ],
    }


def random_coco(n_images, n_instances, names=ARM_NAMES, seed=0, width=640, height=480, order=None) -> dict:
    """A valid COCO keypoints file with random instances; `order` permutes the category's keypoint columns."""
    rng = np.random.default_rng(seed)
    k = len(names)
    order = list(range(k)) if order is None else list(order)
    images = [{"id": 100 + i, "file_name": f"img_{i:05d}.jpg", "width": width, "height": height} for i in range(n_images)]
    image_of = rng.integers(0, n_images, n_instances)
    x = rng.uniform(0, width, (n_instances, k))
    y = rng.uniform(0, height, (n_instances, k))
    v = rng.integers(0, 3, (n_instances, k))
    x[v == 0] = 0
    y[v == 0] = 0
    kps = np.stack([x, y, v], axis=2)[:, order, :]
    bx = rng.uniform(0, width / 2, n_instances)
    by = rng.uniform(0, height / 2, n_instances)
    bw = rng.uniform(1, width / 2, n_instances)
    bh = rng.uniform(1, height / 2, n_instances)
    annotations = []
    for i in range(n_instances):
        flat = kps[i].reshape(-1).tolist()
        flat[2::3] = [int(c) for c in flat[2::3]]
        annotations.append({
            "id": 1000 + i, "image_id": 100 + int(image_of[i]), "category_id": 1, "iscrowd": 0,
            "keypoints": flat, "num_keypoints": int((kps[i, :, 2] > 0).sum()),
            "bbox": [float(bx[i]), float(by[i]), float(bw[i]), float(bh[i])],
            "area": float(bw[i] * bh[i] * 0.7),
        })
    return coco_file(images, annotations, keypoint_names=[names[j] for j in order])


def as_upload(data) -> bytes:
    return json.dumps(data).encode()
