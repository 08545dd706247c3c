"""Organizations and vendors: created and renamed through the API by the people who run them.

Staff create organizations (a new customer is a contract, not a sign-up). An
organization's admins and project managers create the vendors that work for
it, each with its first vendor manager; staff link a vendor to further
organizations. Vendor managers then run their people themselves
(services/workforce.py).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import Membership, Organization, Vendor


def _unique_name(model, name: str, *, exclude_pk=None) -> str:
    name = name.strip()
    if not name:
        raise ValidationError({"name": ["A name is required."]})
    taken = model.objects.filter(name__iexact=name).exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationError({"name": [f"The name {name!r} is taken."]})
    return name


@transaction.atomic
def create_organization(*, name: str, admin=None) -> Organization:
    """A new organization, with `admin` (a user) as its first admin when given."""
    organization = Organization.objects.create(name=_unique_name(Organization, name))
    if admin is not None:
        Membership.objects.create(user=admin, role=Membership.Role.ADMIN, organization=organization)
    return organization


@transaction.atomic
def rename(entity: Organization | Vendor, *, name: str) -> Organization | Vendor:
    """Rename an organization or a vendor (names are unique, case-insensitively)."""
    entity.name = _unique_name(type(entity), name, exclude_pk=entity.pk)
    entity.save(update_fields=["name"])
    return entity


@transaction.atomic
def create_vendor(*, name: str, organization: Organization, manager_username: str = "",
                  manager_email: str = "", manager_password: str | None = None) -> Vendor:
    """A vendor working for `organization`, with a new account as its first vendor manager.

    The manager account is new (an existing username is refused, so no vendor
    can claim someone else's account); without a password it cannot sign in
    until one is set (the sign-in page's password reset, or an admin).
    """
    vendor = Vendor.objects.create(name=_unique_name(Vendor, name))
    vendor.organizations.add(organization)
    if manager_username:
        User = get_user_model()
        if User.objects.filter(username=manager_username).exists():
            raise ValidationError({"manager_username": [f"The username {manager_username!r} is taken."]})
        user = User(username=manager_username, email=manager_email)
        if manager_password:
            try:
                validate_password(manager_password, user)
            except ValidationError as exc:
                raise ValidationError({"manager_password": exc.messages}) from None
            user.set_password(manager_password)
        else:
            user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save()
        Membership.objects.create(user=user, role=Membership.Role.VENDOR_MANAGER, vendor=vendor)
    return vendor
