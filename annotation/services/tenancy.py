"""Organizations and vendors: created and renamed through the API by the people who run them.

Staff create organizations (a new customer is a contract, not a sign-up). An
organization's admins and project managers create the vendors that work for
it, each with its first vendor manager; staff link a vendor to further
organizations. Vendor managers then run their people themselves
(services/workforce.py).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import Membership, Organization, Vendor
from .accounts import create_vendor_account


def _unique_name(taken_by, name: str) -> str:
    """`name`, stripped, unless empty or one of `taken_by` (a queryset of the rows a clash would
    confuse) already has it, case-insensitively."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": ["A name is required."]})
    if taken_by.filter(name__iexact=name).exists():
        raise ValidationError({"name": [f"The name {name!r} is taken."]})
    return name


def _names_near(entity: Organization | Vendor):
    """The other rows whose names `entity` must not share. Organizations: all of them (staff name
    them). Vendors: those working for the same organizations, and no others, so naming a vendor
    never tells an organization which vendors exist elsewhere."""
    if isinstance(entity, Vendor):
        others = Vendor.objects.filter(organizations__in=entity.organizations.all())
    else:
        others = Organization.objects.all()
    return others.exclude(pk=entity.pk)


@transaction.atomic
def create_organization(*, name: str, admin=None) -> Organization:
    """A new organization, with `admin` (a user) as its first admin when given."""
    organization = Organization.objects.create(name=_unique_name(Organization.objects.all(), name))
    if admin is not None:
        Membership.objects.create(user=admin, role=Membership.Role.ADMIN, organization=organization)
    return organization


@transaction.atomic
def rename(entity: Organization | Vendor, *, name: str) -> Organization | Vendor:
    """Rename an organization or a vendor (names are unique, case-insensitively, among the rows
    `_names_near` names)."""
    entity.name = _unique_name(_names_near(entity), name)
    entity.save(update_fields=["name"])
    return entity


@transaction.atomic
def create_vendor(*, name: str, organization: Organization, manager_handle: str = "",
                  manager_email: str = "", manager_password: str | None = None) -> tuple[Vendor, object]:
    """A vendor working for `organization`, with a new account as its first vendor manager
    (named in the new vendor's namespace, services/accounts.py, so it is always free).
    Returns the vendor and the manager (None without a handle)."""
    vendor = Vendor.objects.create(name=_unique_name(organization.vendors.all(), name))
    vendor.organizations.add(organization)
    manager = None
    if manager_handle:
        manager = create_vendor_account(vendor, manager_handle, password=manager_password,
                                        password_field="manager_password", email=manager_email)
        Membership.objects.create(user=manager, role=Membership.Role.VENDOR_MANAGER, vendor=vendor)
    return vendor, manager
