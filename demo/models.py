"""The demo's own record of the truth: what each rendered figure really is.

Kept apart from the product's tables on purpose: the truth is what the
simulated people try to hit and what the report measures consensus against,
and no part of Jointly may read it (a real project has no truth to read).
"""

from django.db import models


class TrueLabel(models.Model):
    image = models.OneToOneField("annotation.Image", on_delete=models.CASCADE, related_name="demo_truth")
    instances = models.JSONField(help_text="COCO instances as rendered: bbox and 17 keypoints with v 0/1/2.")
