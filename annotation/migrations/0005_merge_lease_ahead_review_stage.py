# The lease ahead (annotator workspace) and the review stage were added side by side on 0003.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0004_assignment_lease_ahead'),
        ('annotation', '0004_review_stage'),
    ]

    operations = []
