"""Who may see and do what: every API queryset starts from one of these.

Roles come from Membership rows. Organization-side roles (admin, project
manager, QA lead) reach the organization's projects; vendor-side roles
(vendor manager, QA lead, annotator) reach the projects granted to their
vendor. Staff users (Django admin) reach everything.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from .models import Membership, Project

Role = Membership.Role

ORG_MANAGERS = (Role.ADMIN, Role.PROJECT_MANAGER)


def _org_ids(user, roles) -> QuerySet:
    return Membership.objects.filter(
        user=user, is_active=True, role__in=roles, organization__isnull=False
    ).values("organization_id")


def _vendor_ids(user, roles) -> QuerySet:
    return Membership.objects.filter(
        user=user, is_active=True, role__in=roles, vendor__isnull=False
    ).values("vendor_id")


def visible_projects(user) -> QuerySet[Project]:
    """Projects the user may read at all."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(
        Q(organization_id__in=_org_ids(user, Role.values))
        | Q(vendors__in=_vendor_ids(user, Role.values), is_active=True)
    ).distinct()


def managed_projects(user) -> QuerySet[Project]:
    """Projects the user may configure, import into and export from."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(organization_id__in=_org_ids(user, ORG_MANAGERS))


def annotatable_projects(user) -> QuerySet[Project]:
    """Active projects granted to a vendor the user annotates for."""
    if not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(is_active=True, vendors__in=_vendor_ids(user, [Role.ANNOTATOR])).distinct()


def reviewable_projects(user) -> QuerySet[Project]:
    """Projects whose review queue the user may work."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(
        Q(organization_id__in=_org_ids(user, [Role.QA_LEAD, *ORG_MANAGERS]))
        | Q(vendors__in=_vendor_ids(user, [Role.QA_LEAD]))
    ).distinct()


def can_create_project_in(user, organization_id: int) -> bool:
    if user.is_staff:
        return True
    return _org_ids(user, ORG_MANAGERS).filter(organization_id=organization_id).exists()
