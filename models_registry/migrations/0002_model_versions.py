from django.db import migrations


class Migration(migrations.Migration):
    """PoseModel becomes ModelVersion; the foreign keys of annotation follow the rename."""

    dependencies = [
        ("models_registry", "0001_initial"),
        ("annotation", "0002_initial"),
    ]

    operations = [
        migrations.RenameModel("PoseModel", "ModelVersion"),
        migrations.RenameField("ModelVersion", "framework", "runtime"),
    ]
