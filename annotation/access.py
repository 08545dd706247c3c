"""Who may see and do what: every API queryset starts from one of these.

Roles come from Membership rows, never from Django groups, so one person can
be an annotator for vendor A only. Organization-side roles (admin, project
manager, QA lead) reach their organization's projects; vendor-side roles
(vendor manager, QA lead, annotator) reach the projects granted to their
vendor, and an annotator only the projects their vendor staffed them on.
Staff users (Django admin) reach everything.

Blindness is built in here, not left to each view: `readable_annotations`
never lets an annotator read someone else's labels (or the consensus) of an
image that is still in annotation, whatever other role the person holds on
the vendor side.
"""

from __future__ import annotations

from django.db.models import F, Q, QuerySet

from .models import Annotation, Assignment, Image, Membership, Project, ProjectAnnotator, Vendor

Role = Membership.Role

ORG_MANAGERS = (Role.ADMIN, Role.PROJECT_MANAGER)
VENDOR_SUPERVISORS = (Role.VENDOR_MANAGER, Role.QA_LEAD)
#: Image states in which annotators are still labeling blind.
IN_ANNOTATION = (Image.Status.NEW, Image.Status.ANNOTATING)


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
        | Q(vendors__in=_vendor_ids(user, VENDOR_SUPERVISORS), is_active=True)
        | Q(pk__in=annotatable_projects(user).values("pk"))
    ).distinct()


def managed_projects(user) -> QuerySet[Project]:
    """Projects the user may configure, import into and export from."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(organization_id__in=_org_ids(user, ORG_MANAGERS))


def staffing_of(user) -> QuerySet[ProjectAnnotator]:
    """The user's valid staffings: on an active project, through a vendor the
    project still grants and the user is still an active annotator of."""
    if not user.is_authenticated:
        return ProjectAnnotator.objects.none()
    return ProjectAnnotator.objects.filter(
        user=user,
        project__is_active=True,
        vendor__in=_vendor_ids(user, [Role.ANNOTATOR]),
        # The vendor's grants must still include the staffed project itself.
        vendor__projects=F("project"),
    )


def annotatable_projects(user) -> QuerySet[Project]:
    """Active projects the user is staffed on, through a vendor that still has the grant."""
    if not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(pk__in=staffing_of(user).values("project_id"))


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
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    return _org_ids(user, ORG_MANAGERS).filter(organization_id=organization_id).exists()


# --- workforce -------------------------------------------------------------


def visible_vendors(user) -> QuerySet[Vendor]:
    """Vendors the user may see by name: their own, and those granted to projects they manage."""
    if not user.is_authenticated:
        return Vendor.objects.none()
    if user.is_staff:
        return Vendor.objects.all()
    return Vendor.objects.filter(
        Q(pk__in=_vendor_ids(user, Role.values)) | Q(projects__in=managed_projects(user))
    ).distinct()


def managed_vendors(user) -> QuerySet[Vendor]:
    """Vendors whose people and staffing the user runs."""
    if not user.is_authenticated:
        return Vendor.objects.none()
    if user.is_staff:
        return Vendor.objects.all()
    return Vendor.objects.filter(pk__in=_vendor_ids(user, [Role.VENDOR_MANAGER]))


def supervised_vendors(user) -> QuerySet[Vendor]:
    """Vendors whose numbers the user may read: vendor managers and the vendor's QA leads."""
    if not user.is_authenticated:
        return Vendor.objects.none()
    if user.is_staff:
        return Vendor.objects.all()
    return Vendor.objects.filter(pk__in=_vendor_ids(user, VENDOR_SUPERVISORS))


def own_assignments(user) -> QuerySet[Assignment]:
    """The caller's own assignments: the only ones the assignment API ever serves.

    Even staff get only their own through the API: other people's drafts are
    read in Django admin, where reading them is an explicit act.
    """
    if not user.is_authenticated:
        return Assignment.objects.none()
    return Assignment.objects.filter(annotator=user)


def statistics_scope(user) -> QuerySet[Assignment]:
    """Assignments whose numbers (never their labels) the user may aggregate.

    The organization's admins, project managers and QA leads see the work done
    on its projects; a vendor's managers and QA leads see the work their vendor
    staffed; everyone sees their own.
    """
    if not user.is_authenticated:
        return Assignment.objects.none()
    if user.is_staff:
        return Assignment.objects.all()
    return Assignment.objects.filter(
        Q(annotator=user)
        | Q(project__organization_id__in=_org_ids(user, [*ORG_MANAGERS, Role.QA_LEAD]))
        | Q(vendor_id__in=_vendor_ids(user, VENDOR_SUPERVISORS))
    )


def readable_annotations(user) -> QuerySet[Annotation]:
    """Annotations the user may read, blind by construction.

    Organization-side roles read everything of their projects (they own the
    data). Vendor-side supervisors read their vendor's people's labels only
    once the image has left annotation. Anybody reads their own labels, and
    the pre-labels of an image they hold an assignment on if the project shows
    them. Nothing else: not another annotator's labels, not the consensus.
    """
    if not user.is_authenticated:
        return Annotation.objects.none()
    if user.is_staff:
        return Annotation.objects.all()
    org_projects = Project.objects.filter(organization_id__in=_org_ids(user, [*ORG_MANAGERS, Role.QA_LEAD]))
    supervised_annotators = Membership.objects.filter(
        vendor_id__in=_vendor_ids(user, VENDOR_SUPERVISORS), role=Role.ANNOTATOR
    ).values("user_id")
    held_images = Assignment.objects.filter(annotator=user).values("image_id")
    return Annotation.objects.filter(
        Q(image__project__in=org_projects)
        | Q(source=Annotation.Source.ANNOTATOR, annotator=user)
        | (
            Q(source=Annotation.Source.ANNOTATOR, annotator_id__in=supervised_annotators)
            & ~Q(image__status__in=IN_ANNOTATION)
            & Q(image__project__vendors__in=_vendor_ids(user, VENDOR_SUPERVISORS))
        )
        | Q(
            source=Annotation.Source.MODEL, image_id__in=held_images, image__project__show_prelabels=True,
            pose_model=F("image__project__prelabel_model"),
        )
    ).distinct()
