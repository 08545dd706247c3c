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

from functools import lru_cache

from django.contrib.auth import get_user_model
from django.db.models import F, Q, QuerySet

from .models import (
    Annotation, Assignment, Image, InstructionExample, Instructions, Membership, Organization, Project,
    ProjectAnnotator, Vendor,
)
from .prepared import columns, fetch_one

Role = Membership.Role
User = get_user_model()

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


#: `staffing_of` written out for the two hottest requests of the API (tasks/next and
#: submit): a constant statement costs no ORM compilation and can be prepared once
#: per connection. It must say exactly what `staffing_of` says; the permission
#: matrix tests both paths against the same roles. The joins from a staffing row `s`
#: are written once here and used by both hot statements.
def _staffing_joins(project: str) -> str:
    """What makes staffing row `s` valid, as joins; `project` aliases its (active) project."""
    return f"""
    JOIN annotation_project {project} ON {project}.id = s.project_id AND {project}.is_active
    JOIN annotation_project_vendors pv ON pv.project_id = s.project_id AND pv.vendor_id = s.vendor_id
    JOIN annotation_membership m ON m.vendor_id = s.vendor_id AND m.user_id = s.user_id
                                 AND m.role = 'annotator' AND m.is_active
"""


STAFFED_SQL = (
    "EXISTS (SELECT 1 FROM annotation_projectannotator s" + _staffing_joins("sp")
    + " WHERE s.user_id = {user} AND s.project_id = {project})"
)

#: The hot statements find their caller themselves: the signed-in user's id, or the
#: user of the request's API token, which saves the token its own round trip (see
#: api/fast_lane.py). An inactive user is nobody, as in DRF's TokenAuthentication.
_CALLER_SQL = """
    WITH caller AS (
        SELECT {user_columns} FROM {user_table} c
        WHERE c.id = COALESCE(%(user)s, (SELECT t.user_id FROM authtoken_token t WHERE t.key = %(token)s))
          AND c.is_active
    )
"""

_TASK_CONTEXT_SQL = _CALLER_SQL + """
    SELECT {project_columns}, s.vendor_id AS staffed_vendor_id, ins.version AS current_instructions_version,
           sk.updated_at AS skeleton_updated_at,
           EXISTS (SELECT 1 FROM annotation_instructionsacknowledgement k
                   WHERE k.user_id = c.id AND k.instructions_id = p.instructions_id
                     AND k.version = ins.version) AS acknowledged,
           (SELECT a.id FROM annotation_assignment a
            WHERE a.project_id = p.id AND a.annotator_id = c.id AND a.state = 'leased' LIMIT 1) AS held_lease_id,
           (SELECT a.id FROM annotation_assignment a
            WHERE a.project_id = p.id AND a.annotator_id = c.id AND a.state = 'rework' LIMIT 1) AS rework_assignment_id,
           s.qualification AS staffing_qualification, s.qualification_result AS staffing_qualification_result,
           s.paused_at AS staffing_paused_at, s.paused_reason AS staffing_paused_reason,
           c.*
    FROM caller c
    JOIN annotation_projectannotator s ON s.user_id = c.id""" + _staffing_joins("p") + """    JOIN annotation_skeleton sk ON sk.id = p.skeleton_id
    LEFT JOIN annotation_instructions ins ON ins.id = p.instructions_id
    WHERE s.project_id = %(project)s
    LIMIT 1
"""
_TASK_CONTEXT_EXTRA = (
    "staffed_vendor_id", "current_instructions_version", "skeleton_updated_at", "acknowledged", "held_lease_id",
    "rework_assignment_id", "staffing_qualification", "staffing_qualification_result", "staffing_paused_at",
    "staffing_paused_reason",
)


def _caller_params(user, token: str | None) -> dict | None:
    if token is not None:
        return {"user": None, "token": token}
    if not user.is_authenticated:
        return None
    return {"user": user.pk, "token": None}


def task_context(user, project_id: int, *, token: str | None = None) -> Project | None:
    """The project the caller annotates on, or None, in one prepared statement.

    The caller is `user`, or with `token` the user of that API token. The
    Project carries: caller (the user), staffed_vendor_id,
    current_instructions_version, skeleton_updated_at, acknowledged (the
    current instructions version), held_lease_id (the caller's open lease
    in it, if any), rework_assignment_id (an image a QA lead sent back to
    them, if any) and the staffing row's qualification and pause (with
    their results and reasons): everything the engine's rules need, in the
    one statement. None also when the token is unknown or its user inactive.
    """
    params = _caller_params(user, token)
    if params is None:
        return None
    return fetch_one(Project, _statement("task_context"), {**params, "project": project_id},
                     extra=_TASK_CONTEXT_EXTRA, joined=(("caller", User),))


#: The project fields the engine's submit path needs, read with the assignment.
_ENGINE_PROJECT_FIELDS = (
    "replicas", "lease_seconds", "idle_limit_seconds", "skeleton_id", "instructions_id", "prelabel_model_id",
    "show_prelabels", "gold_rate", "organization_id", "is_active", "max_instances_per_image",
)
_OWN_ASSIGNMENT_SQL = (
    _CALLER_SQL
    + "SELECT {assignment_columns}, i.width AS image_width, i.height AS image_height, "
    "sk.updated_at AS skeleton_updated_at, "
    + ", ".join(f"p.{name} AS project__{name}" for name in _ENGINE_PROJECT_FIELDS) + ", "
    + STAFFED_SQL.format(user="c.id", project="a.project_id") + " AS workable, c.* "
    "FROM caller c JOIN annotation_assignment a ON a.annotator_id = c.id "
    "JOIN annotation_image i ON i.id = a.image_id "
    "JOIN annotation_project p ON p.id = a.project_id JOIN annotation_skeleton sk ON sk.id = p.skeleton_id "
    "WHERE a.id = %(assignment)s"
)
_OWN_ASSIGNMENT_EXTRA = (
    "image_width", "image_height", "skeleton_updated_at", *(f"project__{name}" for name in _ENGINE_PROJECT_FIELDS),
    "workable",
)


@lru_cache(maxsize=None)
def _statement(name: str) -> str:
    """The hot-path statements, with the models' column lists filled in once per process."""
    caller = {"user_columns": columns(User, "c"), "user_table": User._meta.db_table}
    if name == "task_context":
        return _TASK_CONTEXT_SQL.format(project_columns=columns(Project, "p"), **caller)
    return _OWN_ASSIGNMENT_SQL.format(assignment_columns=columns(Assignment, "a"), **caller)


def own_assignment_to_work_on(user, assignment_id, *, token: str | None = None) -> Assignment | None:
    """The caller's own assignment in one statement, with `caller` (the user; with
    `token`, the user of that API token), `workable` (still staffed on its project?),
    the image size, the skeleton's row version (for the cached spec) and
    `assignment.project` holding the fields the engine reads (a partial row: never saved)."""
    params = _caller_params(user, token)
    if params is None or not str(assignment_id).isdigit():
        return None
    assignment = fetch_one(Assignment, _statement("own_assignment"), {**params, "assignment": int(assignment_id)},
                           extra=_OWN_ASSIGNMENT_EXTRA, joined=(("caller", User),))
    if assignment is None:
        return None
    assignment.project = Project(
        pk=assignment.project_id,
        **{name: getattr(assignment, f"project__{name}") for name in _ENGINE_PROJECT_FIELDS},
    )
    assignment.project.show_prelabels = bool(assignment.project.show_prelabels)
    return assignment


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


def quality_projects(user) -> QuerySet[Project]:
    """Projects whose agreement figures and consensus the user may read (managers and QA leads)."""
    return Project.objects.filter(
        Q(pk__in=managed_projects(user).values("pk")) | Q(pk__in=reviewable_projects(user).values("pk"))
    )


def sees_gold(user, project: Project) -> bool:
    """Whether the user may learn which of the project's images are gold.

    Only the owning organization's people (and staff) do: gold checks the vendor
    side, so a vendor's QA lead - a role its manager may hand to any annotator -
    must not be able to list the gold images an annotator is about to be served.
    """
    if not user.is_authenticated:
        return False
    return user.is_staff or _gold_organizations(user).filter(organization_id=project.organization_id).exists()


def _gold_organizations(user) -> QuerySet:
    """The organizations whose gold images the user may know as gold: any role in them (see sees_gold)."""
    return _org_ids(user, Role.values)


def gold_known(user, path: str = "") -> Q:
    """The images (reached through `path`, e.g. "image__") the user may be shown without learning
    more about gold than `sees_gold` allows: every image that is not gold, and the gold images of
    their own organizations (staff: all)."""
    if user.is_staff:
        return Q()
    return Q(**{f"{path}is_gold": False}) | Q(**{f"{path}project__organization_id__in": _gold_organizations(user)})


def readable_images(user) -> QuerySet[Image]:
    """Images whose file the user may fetch (api/files.py), decided as the API shows them.

    Those who list a project's images (its managers and QA leads: `quality_projects`)
    see them, less the gold ones unless `sees_gold`: fetching an image must not tell a
    vendor's QA lead more than the list does. An annotator sees the images they hold or
    held an assignment for, in a project they are still staffed on: the engine hands
    them out one at a time, and nothing else of the project is theirs to browse.
    A vendor's QA lead is not given gold images to review either (review.selectors).
    """
    if not user.is_authenticated:
        return Image.objects.none()
    if user.is_staff:
        return Image.objects.all()
    held = Assignment.objects.filter(annotator=user, project__in=staffing_of(user).values("project_id"))
    return Image.objects.filter(
        (Q(project__in=quality_projects(user)) & gold_known(user)) | Q(pk__in=held.values("image_id"))
    )


def visible_annotator_ids(user, project: Project) -> set[int] | None:
    """Whose per-annotator figures on the project the user may read: None for everyone's.

    The owning organization (and staff) read all of them. A vendor's QA lead reads
    only the people who worked on the project through their own vendor: a project
    granted to two vendors must not show vendor Y who vendor X's people are or how
    they score.
    """
    if user.is_staff or _org_ids(user, Role.values).filter(organization_id=project.organization_id).exists():
        return None
    return set(
        Assignment.objects.filter(project=project, vendor_id__in=_vendor_ids(user, VENDOR_SUPERVISORS))
        .values_list("annotator_id", flat=True).distinct()
    )


def can_create_project_in(user, organization_id: int) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    return _org_ids(user, ORG_MANAGERS).filter(organization_id=organization_id).exists()


# --- organizations and their instructions ----------------------------------


def visible_organizations(user) -> QuerySet[Organization]:
    """Organizations the user holds any role in (staff: all)."""
    if not user.is_authenticated:
        return Organization.objects.none()
    if user.is_staff:
        return Organization.objects.all()
    return Organization.objects.filter(pk__in=_org_ids(user, Role.values))


def managed_organizations(user) -> QuerySet[Organization]:
    """Organizations whose settings, vendors and instructions the user runs: their admins and
    project managers (renaming the organization itself is for its admins: `administered_organizations`)."""
    if not user.is_authenticated:
        return Organization.objects.none()
    if user.is_staff:
        return Organization.objects.all()
    return Organization.objects.filter(pk__in=_org_ids(user, ORG_MANAGERS))


def administered_organizations(user) -> QuerySet[Organization]:
    if not user.is_authenticated:
        return Organization.objects.none()
    if user.is_staff:
        return Organization.objects.all()
    return Organization.objects.filter(pk__in=_org_ids(user, [Role.ADMIN]))


def readable_instructions(user) -> QuerySet[Instructions]:
    """Instructions of the user's organizations. Annotators read the ones of their projects
    through `projects/{id}/instructions/`, never the organization's whole library."""
    if not user.is_authenticated:
        return Instructions.objects.none()
    if user.is_staff:
        return Instructions.objects.all()
    return Instructions.objects.filter(organization_id__in=_org_ids(user, Role.values))


def readable_instruction_examples(user) -> QuerySet[InstructionExample]:
    """Example images of the instructions the user may read: their organizations' library
    (`readable_instructions`) and the current instructions of every project they see (what
    `projects/{id}/instructions/` shows them)."""
    if not user.is_authenticated:
        return InstructionExample.objects.none()
    return InstructionExample.objects.filter(
        Q(instructions__in=readable_instructions(user))
        | Q(instructions__in=visible_projects(user).filter(instructions__isnull=False).values("instructions_id"))
    )


def managed_instructions(user) -> QuerySet[Instructions]:
    if not user.is_authenticated:
        return Instructions.objects.none()
    if user.is_staff:
        return Instructions.objects.all()
    return Instructions.objects.filter(organization_id__in=_org_ids(user, ORG_MANAGERS))


# --- workforce -------------------------------------------------------------


def visible_vendors(user) -> QuerySet[Vendor]:
    """Vendors the user may see by name: their own, and those working for organizations they manage."""
    if not user.is_authenticated:
        return Vendor.objects.none()
    if user.is_staff:
        return Vendor.objects.all()
    return Vendor.objects.filter(
        Q(pk__in=_vendor_ids(user, Role.values))
        | Q(pk__in=Vendor.organizations.through.objects.filter(
            organization_id__in=_org_ids(user, ORG_MANAGERS)).values("vendor_id"))
    )


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


def visible_jobs(user) -> QuerySet:
    """Background jobs the user may watch: the ones they started, and every job of a project they
    manage (staff: all). Per-image scoring jobs, which nobody starts by hand, stay their (absent)
    creator's.
    """
    from django.apps import apps

    JobRun = apps.get_model("jobs", "JobRun")
    if not user.is_authenticated:
        return JobRun.objects.none()
    if user.is_staff:
        return JobRun.objects.all()
    return JobRun.objects.filter(Q(created_by=user) | jobs_of_projects(managed_projects(user).values("pk")))


def jobs_of_projects(projects) -> Q:
    """The condition "this job works on one of `projects`" (a queryset of project pks). A job names
    its project in its arguments (`project_id`: import, rescore, sigma proposal, evaluation) or
    through the pre-label run it executes (`run_id`)."""
    from django.apps import apps
    from django.db.models import BigIntegerField
    from django.db.models.fields.json import KeyTextTransform
    from django.db.models.functions import Cast

    PrelabelRun = apps.get_model("models_registry", "PrelabelRun")
    named_project = Cast(KeyTextTransform("project_id", "kwargs"), BigIntegerField())
    return Q(pk__in=PrelabelRun.objects.filter(project__in=projects, job__isnull=False).values("job_id")) | Q(
        pk__in=apps.get_model("jobs", "JobRun").objects.annotate(named_project=named_project)
        .filter(named_project__in=projects).values("pk"))
