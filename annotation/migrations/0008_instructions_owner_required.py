"""Every instructions row belongs to an organization (the column becomes NOT NULL).

0006 gave each row in use the organization of the projects using it; rows no
project used kept none. They get an owner here, from the best evidence there is:

1. the organization of whoever created the row in the admin (its admin log entry),
   when that person belongs to exactly one organization;
2. else the organization of the projects whose annotators acknowledged it, when
   that is exactly one;
3. else the one organization, when the installation has only one.

Rows with no such evidence go to a new organization, "Unclaimed instructions",
that has no members: nobody but staff reads them, and staff move each to its
owner in the admin (or delete it). Nothing is deleted and nothing is guessed.
"""

import django.db.models.deletion
from django.db import migrations, models

UNCLAIMED = "Unclaimed instructions"
ADDITION = 1  # django.contrib.admin.models.ADDITION


def _one(ids):
    ids = {i for i in ids if i is not None}
    return ids.pop() if len(ids) == 1 else None


def assign_orphans(apps, schema_editor):
    Instructions = apps.get_model("annotation", "Instructions")
    Organization = apps.get_model("annotation", "Organization")
    Membership = apps.get_model("annotation", "Membership")
    Acknowledgement = apps.get_model("annotation", "InstructionsAcknowledgement")
    LogEntry = apps.get_model("admin", "LogEntry")
    ContentType = apps.get_model("contenttypes", "ContentType")
    orphans = list(Instructions.objects.filter(organization__isnull=True))
    if not orphans:
        return
    content_type = ContentType.objects.filter(app_label="annotation", model="instructions").first()
    creators = dict(
        LogEntry.objects.filter(content_type=content_type, action_flag=ADDITION,
                                object_id__in=[str(o.pk) for o in orphans]).values_list("object_id", "user_id")
    ) if content_type else {}
    only_organization = _one(Organization.objects.values_list("pk", flat=True)[:2])
    unclaimed = None
    for instructions in orphans:
        creator = creators.get(str(instructions.pk))
        owner = (
            (creator and _one(Membership.objects.filter(user_id=creator, organization__isnull=False)
                              .values_list("organization_id", flat=True)))
            or _one(Acknowledgement.objects.filter(instructions=instructions, project__isnull=False)
                    .values_list("project__organization_id", flat=True))
            or only_organization
        )
        if owner is None:
            if unclaimed is None:
                unclaimed, _ = Organization.objects.get_or_create(name=UNCLAIMED)
            owner = unclaimed.pk
        instructions.organization_id = owner
        instructions.save(update_fields=["organization"])


class Migration(migrations.Migration):

    dependencies = [
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("annotation", "0007_assignment_project_submitted_index"),
    ]

    operations = [
        migrations.RunPython(assign_orphans, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="instructions",
            name="organization",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="instructions",
                                    to="annotation.organization"),
        ),
    ]
