"""The membership changelist loads their related rows in the page query, not one query per row."""

import pytest
from django.test import Client

from annotation.models import Membership

from .factories import make_annotator, make_world

pytestmark = pytest.mark.django_db


def test_membership_changelist_queries_do_not_grow_with_rows(django_user_model, django_assert_max_num_queries):
    changelist = "membership"
    admin = django_user_model.objects.create_superuser("root", password="pw")
    client = Client()
    client.force_login(admin)
    world = make_world(images=1)
    client.get(f"/admin/annotation/{changelist}/")  # warm caches (content types, permissions)
    with django_assert_max_num_queries(12) as few:
        assert client.get(f"/admin/annotation/{changelist}/").status_code == 200
    for _ in range(15):
        make_annotator(world.project, world.vendor_a)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(f"/admin/annotation/{changelist}/")
    assert response.status_code == 200
    assert Membership.objects.count() >= 15
