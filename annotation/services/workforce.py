"""Workforce state changes: vendor members, project staffing, instructions acknowledgements.

Each function is one transaction and checks the business rules itself, so
the API and the admin cannot disagree about them. Who may call them is the
caller's business (annotation/access.py); what may happen is decided here.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from jointly.domain_errors import Conflict

from ..models import (
    Assignment, InstructionsAcknowledgement, Membership, Project, ProjectAnnotator, Vendor,
)
from .accounts import create_vendor_account, vendor_username

Role = Membership.Role
#: Roles a vendor manager may hand out. Vendor managers themselves are made by an admin.
VENDOR_GRANTABLE_ROLES = (Role.ANNOTATOR, Role.QA_LEAD)


# --- vendor members ---------------------------------------------------------------


@transaction.atomic
def add_vendor_member(
    vendor: Vendor, *, handle: str, role: str = Role.ANNOTATOR, email: str = "", first_name: str = "",
    last_name: str = "", password: str | None = None,
) -> Membership:
    """Create an account for a new member of the vendor (or re-activate a former one).

    The account is named in the vendor's namespace (services/accounts.py), so a
    vendor manager can neither enrol someone else's account nor learn whether a
    name exists outside the vendor. Admins link existing accounts in Django admin.
    """
    if role not in VENDOR_GRANTABLE_ROLES:
        raise ValidationError({"role": [f"A vendor manager can grant {' or '.join(VENDOR_GRANTABLE_ROLES)}, not {role!r}."]})
    username = vendor_username(vendor, handle)
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        user = create_vendor_account(vendor, handle, password=password, email=email, first_name=first_name,
                                     last_name=last_name)
    elif not Membership.objects.filter(user=user, vendor=vendor).exists():
        # Only an admin can have made this name (by hand, in the vendor's namespace).
        raise Conflict(f"The username {username!r} is taken. Choose another handle.")
    membership, _ = Membership.objects.get_or_create(user=user, vendor=vendor, role=role)
    if not membership.is_active:
        membership.is_active = True
        membership.save(update_fields=["is_active"])
    return membership


@transaction.atomic
def deactivate_membership(membership: Membership, *, now: datetime | None = None) -> Membership:
    """Take a role away. A departing annotator's staffing through this vendor ends and
    their open leases on those projects are released, so their slots go to others now."""
    from ..engine import release_assignment

    membership.is_active = False
    membership.save(update_fields=["is_active"])
    if membership.role == Role.ANNOTATOR and membership.vendor_id:
        ProjectAnnotator.objects.filter(user_id=membership.user_id, vendor_id=membership.vendor_id).delete()
        open_leases = Assignment.objects.filter(
            annotator_id=membership.user_id, vendor_id=membership.vendor_id, state=Assignment.State.LEASED
        ).select_related("image", "project")
        for assignment in open_leases:  # at most two per project: current and ahead
            release_assignment(assignment, now=now)
    return membership


# --- staffing -------------------------------------------------------------------


def staffing_errors(vendor: Vendor, *, user_id: int, project_id: int) -> dict[str, list[str]]:
    """What stops this staffing, by field (empty when nothing does). Shared with the admin's form."""
    errors = {}
    if not Membership.objects.filter(vendor=vendor, user_id=user_id, role=Role.ANNOTATOR, is_active=True).exists():
        errors["user"] = [f"User {user_id} is not an active annotator of {vendor.name}."]
    if not Project.objects.filter(pk=project_id, vendors=vendor).exists():
        errors["project"] = [f"Project {project_id} is not granted to {vendor.name}."]
    return errors


@transaction.atomic
def staff_annotator(vendor: Vendor, *, user_id: int, project_id: int, added_by=None) -> ProjectAnnotator:
    """Put one of the vendor's annotators on a project granted to the vendor."""
    errors = staffing_errors(vendor, user_id=user_id, project_id=project_id)
    if errors:
        raise ValidationError(errors)
    existing = ProjectAnnotator.objects.filter(project_id=project_id, user_id=user_id).first()
    if existing is not None:
        if existing.vendor_id != vendor.pk:
            raise Conflict("This annotator already works on the project for another vendor.")
        return existing
    return ProjectAnnotator.objects.create(
        project_id=project_id, user_id=user_id, vendor=vendor,
        added_by=added_by if getattr(added_by, "is_authenticated", False) else None,
    )


@transaction.atomic
def unstaff_annotator(staffing: ProjectAnnotator, *, now: datetime | None = None) -> None:
    """Take an annotator off a project; their open lease there goes back to the pool."""
    from ..engine import release_assignment

    lease = Assignment.objects.filter(
        project_id=staffing.project_id, annotator_id=staffing.user_id, state=Assignment.State.LEASED
    ).select_related("image", "project").first()
    if lease is not None:
        release_assignment(lease, now=now)
    staffing.delete()


@transaction.atomic
def resume_annotator(staffing: ProjectAnnotator, by, *, now: datetime | None = None) -> ProjectAnnotator:
    """A vendor manager re-enables an annotator paused automatically (review/services/quality.py).

    The pause stays on record under `previous`, and `resumed_at` starts a new
    rolling window, so the scores that caused the pause do not pause again.
    """
    now = now or timezone.now()
    locked = ProjectAnnotator.objects.select_for_update().get(pk=staffing.pk)
    if locked.paused_at is None:
        return locked
    locked.paused_reason = {"resumed_at": now.isoformat(), "resumed_by": getattr(by, "pk", None),
                            "previous": locked.paused_reason}
    locked.paused_at = None
    locked.save(update_fields=["paused_at", "paused_reason"])
    return locked


# --- instructions -----------------------------------------------------------------


@transaction.atomic
def acknowledge_instructions(user, project: Project, *, version: int, now: datetime | None = None):
    """Record that the caller read the current instructions. Acknowledging twice is a no-op."""
    if not project.instructions_id:
        raise ValidationError({"version": ["This project has no instructions to acknowledge."]})
    current = project.instructions.version
    if version > current:  # e.g. a number copied from an example: nothing changed, it never existed
        raise ValidationError({"version": [
            f"These instructions have no version {version}: the current version is {current}. "
            "Read it and acknowledge that number."
        ]})
    if version < current:
        raise Conflict(
            f"The instructions changed: the current version is {current}, you acknowledged {version}. "
            "Read the current version and acknowledge it."
        )
    acknowledgement, _ = InstructionsAcknowledgement.objects.get_or_create(
        user=user, instructions_id=project.instructions_id, version=current,
        defaults={"project": project, "acknowledged_at": now or timezone.now()},
    )
    return acknowledgement
