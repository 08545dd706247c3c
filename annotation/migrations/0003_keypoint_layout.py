import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("annotation", "0002_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="keypoint",
            name="layout_x",
            field=models.FloatField(
                blank=True,
                help_text="Preview position, 0 (left) to 1 (right).",
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(0.0),
                    django.core.validators.MaxValueValidator(1.0),
                ],
            ),
        ),
        migrations.AddField(
            model_name="keypoint",
            name="layout_y",
            field=models.FloatField(
                blank=True,
                help_text="Preview position, 0 (top) to 1 (bottom).",
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(0.0),
                    django.core.validators.MaxValueValidator(1.0),
                ],
            ),
        ),
    ]
