"""Tenancy: organizations own projects, vendors supply the workforce.

Roles are memberships, not Django groups, so one person can be an annotator
for vendor A only, or a QA lead in one organization and nothing elsewhere.
"""

from django.conf import settings
from django.db import models


class Organization(models.Model):
    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Vendor(models.Model):
    #: Unique among the vendors of each organization it works for (services/tenancy.py), not
    #: globally: a global constraint would tell anyone creating a vendor which names exist.
    name = models.CharField(max_length=200)
    #: The organizations this vendor works for. An organization's managers may grant
    #: their projects to these vendors only, so a vendor's existence is never
    #: revealed to an organization it has no relationship with.
    organizations = models.ManyToManyField(Organization, blank=True, related_name="vendors")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    """A role held by a user in one organization or one vendor (exactly one of the two)."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        PROJECT_MANAGER = "project_manager", "Project manager"
        VENDOR_MANAGER = "vendor_manager", "Vendor manager"
        QA_LEAD = "qa_lead", "QA lead"
        ANNOTATOR = "annotator", "Annotator"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="memberships"
    )
    vendor = models.ForeignKey(Vendor, null=True, blank=True, on_delete=models.CASCADE, related_name="memberships")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "role"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(organization__isnull=False, vendor__isnull=True)
                    | models.Q(organization__isnull=True, vendor__isnull=False)
                ),
                name="membership_org_xor_vendor",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "organization"], condition=models.Q(vendor__isnull=True),
                name="unique_org_membership",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "vendor"], condition=models.Q(organization__isnull=True),
                name="unique_vendor_membership",
            ),
        ]

    def __str__(self):
        return f"{self.user} as {self.get_role_display()} of {self.organization or self.vendor}"


class ProjectAnnotator(models.Model):
    """An annotator put on a project by their vendor: the staffing that `tasks/next` checks.

    A project grants access to vendors; a vendor manager then decides which of
    their people work on it. The vendor is recorded so the work is billed to
    the vendor that staffed it, even if the person belongs to two vendors.
    """

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="staffing")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staffing")
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="staffing")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Qualification and automatic pausing live on the staffing row because
    # `access.task_context` reads it anyway: the engine checks both with no
    # extra query. review/services/quality.py writes them; a vendor manager
    # re-enables a paused annotator (services/workforce.resume_annotator).
    class Qualification(models.TextChoices):
        PENDING = "pending", "Not qualified yet"
        PASSED = "passed"
        FAILED = "failed"

    qualification = models.CharField(
        max_length=16, choices=Qualification.choices, default=Qualification.PENDING,
        db_default=Qualification.PENDING,
        help_text="Only read when the project requires qualification (qualification_images > 0).",
    )
    qualification_result = models.JSONField(
        null=True, blank=True, help_text="Mean gold OKS and the per-keypoint mistakes of the qualification."
    )
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.JSONField(
        null=True, blank=True, help_text="Why the annotator was paused, with the rolling figures and the floors."
    )

    class Meta:
        ordering = ["project", "user"]
        verbose_name = "project annotator"
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="unique_project_annotator")]

    def __str__(self):
        return f"{self.user} on {self.project} for {self.vendor}"
