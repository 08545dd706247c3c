"""Migration 0008: instructions that no project used before 0006 get an owner, and the column
becomes NOT NULL. Runs the real migration on the test database, back one step and forward."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from annotation.access import readable_instructions
from annotation.models import Instructions, Membership, Organization

from .factories import make_project, make_user

BEFORE = ("annotation", "0007_assignment_project_submitted_index")  # the state just before 0008


def _migrate(targets):
    """Migrate to `targets`; the models as the applied migrations define them."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor._create_project_state(with_applied_migrations=True).apps


@pytest.mark.django_db(transaction=True)
def test_orphan_instructions_go_to_their_creators_or_users_organization_else_to_an_unclaimed_one():
    org_a, org_b = Organization.objects.create(name="A"), Organization.objects.create(name="B")
    creator = make_user()
    Membership.objects.create(user=creator, organization=org_a, role=Membership.Role.PROJECT_MANAGER)
    project_b = make_project(org_b)
    reader = make_user()
    leaves = [key for key in MigrationExecutor(connection).loader.graph.leaf_nodes() if key[0] == "annotation"]

    try:
        old = _migrate([BEFORE])
        OldInstructions = old.get_model("annotation", "Instructions")
        by_creator = OldInstructions.objects.create(title="made in the admin", body="a")
        by_use = OldInstructions.objects.create(title="read on B's project once", body="b")
        no_trace = OldInstructions.objects.create(title="nobody knows", body="c")
        content_type = old.get_model("contenttypes", "ContentType").objects.get(app_label="annotation",
                                                                                 model="instructions")
        old.get_model("admin", "LogEntry").objects.create(
            user_id=creator.pk, content_type_id=content_type.pk, object_id=str(by_creator.pk), object_repr="x",
            action_flag=1, action_time=timezone.now())
        old.get_model("annotation", "InstructionsAcknowledgement").objects.create(
            user_id=reader.pk, instructions_id=by_use.pk, version=1, project_id=project_b.pk,
            acknowledged_at=timezone.now())
    finally:  # the next tests need the database as the code expects it
        _migrate(leaves)
    owners = dict(Instructions.objects.values_list("pk", "organization__name"))
    assert owners == {by_creator.pk: "A", by_use.pk: "B", no_trace.pk: "Unclaimed instructions"}
    unclaimed = Organization.objects.get(name="Unclaimed instructions")
    assert not Membership.objects.filter(organization=unclaimed).exists()  # only staff read them
    assert list(readable_instructions(creator)) == [Instructions.objects.get(pk=by_creator.pk)]
    with pytest.raises(IntegrityError), transaction.atomic():
        Instructions.objects.create(title="no owner", body="")
