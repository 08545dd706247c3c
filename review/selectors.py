"""Reads of the review stage: review tasks a user may see, a task's full picture, an image's history.

Every queryset starts from `annotation.access.reviewable_projects`: a QA
lead (or an organization's manager) sees the tasks of their projects only;
anyone else gets nothing, which the API turns into 404. `annotator_names`
adds usernames to reports for the people the caller may see by name.
"""

from __future__ import annotations

from typing import Iterable

from django.contrib.auth import get_user_model

from annotation.access import gold_known, reviewable_projects, statistics_scope
from annotation.image_urls import image_file_url
from annotation.models import Annotation, Assignment, Image, Project

from .models import ConsensusResult, ReviewDecision, ReviewTask, ScoreRound
from .presenters import consensus_members, with_members, with_messages

Source = Annotation.Source
User = get_user_model()


def review_projects(user):
    return reviewable_projects(user)


def visible_review_tasks(user):
    """Review tasks of the user's projects; a gold image's only for those who may know it is gold
    (a vendor's QA lead reviewing it would learn which images check their people)."""
    return ReviewTask.objects.filter(gold_known(user, "image__"), project__in=reviewable_projects(user))


def reviewable_images(user):
    return Image.objects.filter(gold_known(user), project__in=reviewable_projects(user))


def counted_annotations(image: Image):
    """The image's stored labels of every source, less annotator labels a reassigning reject set aside."""
    return Annotation.objects.filter(image=image).exclude(
        source=Source.ANNOTATOR, assignments__state=Assignment.State.REJECTED)


def object_members(image: Image, spec, consensus: list[dict], annotations=None) -> list[list[dict]]:
    """Per consensus instance: the annotator instances that joined it (presenters.consensus_members)."""
    if annotations is None:
        annotations = counted_annotations(image).filter(source=Source.ANNOTATOR).order_by("annotator_id", "id")
    labels = [(a.annotator_id, a.instances) for a in annotations if a.source == Source.ANNOTATOR]
    return consensus_members(labels, consensus, spec)


def review_picture(task: ReviewTask) -> dict:
    """Everything a decision needs, in one dict (a handful of queries, none per annotator).

    Annotators are named to the QA lead (id and username): the QA lead must
    know whose labels they judge. Annotators never reach this (404 upstream).
    """
    image = Image.objects.select_related("project__skeleton").get(pk=task.image_id)
    project: Project = image.project
    spec = project.skeleton.spec()
    annotations = list(counted_annotations(image).select_related("annotator").order_by("source", "annotator_id", "id"))
    result = ConsensusResult.objects.filter(image=image).first()
    per_annotator = (result.annotator_scores.get("per_annotator", {}) if result else {})
    flags = with_messages(result.flags) if result else []
    flags_of: dict[str, list] = {}
    for flag in flags:
        flags_of.setdefault(str(flag["annotator"]), []).append(flag)
    states = dict(Assignment.objects.filter(image=image).values_list("annotator_id", "state"))
    by_source = {a.source: a for a in annotations if a.source not in (Source.ANNOTATOR, Source.MODEL)}
    consensus = by_source.get(Source.CONSENSUS)
    objects = result.clusters if result else []
    return {
        "task": {
            "id": task.pk, "project": project.pk, "state": task.state, "kind": task.kind, "round": task.round,
            "reasons": task.reasons, "agreement": task.agreement, "version": task.version,
            "leased_by": task.leased_by_id, "lease_expires_at": task.lease_expires_at, "ahead": task.ahead,
            "created_at": task.created_at,
        },
        "version": task.version,
        "image": {"id": image.pk, "file_name": image.file_name, "url": image_file_url(image),
                  "width": image.width, "height": image.height, "status": image.status, "is_gold": image.is_gold},
        "skeleton": {"names": list(spec.names), "sigmas": list(spec.sigmas), "edges": [list(e) for e in spec.edges],
                     "flip_pairs": [list(p) for p in spec.flip_pairs]},
        "annotators": [
            {
                "annotator": {"id": a.annotator_id, "username": a.annotator.get_username()},
                "annotation": a.pk, "version": a.version, "instances": a.instances,
                "assignment_state": states.get(a.annotator_id),
                "oks_vs_others": (per_annotator.get(str(a.annotator_id)) or {}).get("oks"),
                "flags": flags_of.get(str(a.annotator_id), []),
            }
            for a in annotations if a.source == Source.ANNOTATOR
        ],
        "consensus": {
            "annotation": consensus.pk if consensus else None,
            "version": consensus.version if consensus else None,
            "instances": consensus.instances if consensus else [],
            # Per consensus object: support, quorum, accepted, its members (which annotator instance
            # joined it), and per keypoint the annotators' spread around the consensus in sigmas
            # (null: not labeled).
            "objects": [{**o, "spread_sigmas": dict(zip(spec.names, o.get("spread") or []))} for o in with_members(
                objects, object_members(image, spec, consensus.instances if consensus else [], annotations))],
        },
        "agreement": result.agreement if result else None,
        "keypoint_agreement": dict(zip(spec.names, result.keypoint_agreement)) if result else {},
        "visibility_agreement": result.visibility_agreement if result else None,
        "pairwise_oks": result.annotator_scores.get("pairwise", {}) if result else {},
        "flags": flags,
        "decision": result.decision if result else None,
        "reasons": result.reasons if result else [],
        "prelabels": [
            {"pose_model": a.pose_model_id, "instances": a.instances} for a in annotations if a.source == Source.MODEL
        ],
        "gold": by_source[Source.GOLD].instances if Source.GOLD in by_source else None,
        "final": by_source[Source.REVIEW].instances if Source.REVIEW in by_source else None,
        "history": image_history(image),
    }


_SAME_INSTANT_ORDER = {"scored": 1, "review_task": 2}


def image_history(image: Image) -> list[dict]:
    """Every annotation, score, review round, decision and rework round of the image, oldest first.

    Events come from the rows that record them (assignments, annotations,
    every score round, review tasks, decisions); labels that were sent back
    and replaced live on in their decision's `state_before`.
    """
    events: list[dict] = []
    for a in Assignment.objects.filter(image=image).order_by("leased_at", "id"):
        events.append({"at": a.leased_at, "event": "leased", "annotator": a.annotator_id, "assignment": a.pk})
        if a.submitted_at:
            events.append({"at": a.submitted_at, "event": "submitted", "annotator": a.annotator_id,
                           "assignment": a.pk, "annotation": a.annotation_id, "state": a.state,
                           "active_ms": a.active_ms})
        if a.released_at:
            events.append({"at": a.released_at, "event": "released", "annotator": a.annotator_id, "assignment": a.pk})
    for a in Annotation.objects.filter(image=image).exclude(source=Source.ANNOTATOR).order_by("created_at", "id"):
        events.append({"at": a.created_at, "event": f"annotation:{a.source}", "annotation": a.pk,
                       "version": a.version, "updated_at": a.updated_at, "instances": len(a.instances)})
    for r in ScoreRound.objects.filter(image=image).order_by("created_at", "id"):
        events.append({"at": r.created_at, "event": "scored", "round": r.pk, "decision": r.decision,
                       "agreement": r.agreement, "reasons": r.reasons, "n_annotators": r.n_annotators,
                       "n_objects": r.n_objects, "inputs": r.inputs, "flags": r.flag_counts})
    for t in ReviewTask.objects.filter(image=image).order_by("created_at", "id"):
        events.append({"at": t.created_at, "event": "review_task", "task": t.pk, "kind": t.kind, "round": t.round,
                       "state": t.state, "reasons": t.reasons, "agreement": t.agreement})
    for d in ReviewDecision.objects.filter(image=image).select_related("actor").order_by("created_at", "id"):
        events.append({"at": d.created_at, "event": f"decision:{d.action}", "decision": d.pk, "task": d.task_id,
                       "actor": {"id": d.actor_id, "username": d.actor.get_username()},
                       "payload": d.payload, "state_before": d.state_before})
    # One scoring pass stamps its round and the review task it opens with the same instant: the round first.
    events.sort(key=lambda e: (e["at"], _SAME_INSTANT_ORDER.get(e["event"], 0), e["event"]))
    return events


def annotator_names(user, project: Project, user_ids: Iterable) -> dict[str, str]:
    """Usernames of the given annotators, for those the user may see by name (one query).

    Reports name annotators by user id everywhere; the username is added for
    people whose work on the project the user may already read numbers of
    (`statistics_scope`: the organization's managers and QA leads, the
    vendor's own supervisors). Keys are user ids as strings, as in the reports.
    """
    ids = {int(i) for i in user_ids if i is not None}
    if not ids:
        return {}
    rows = (statistics_scope(user).filter(project=project, annotator_id__in=ids)
            .values_list("annotator_id", "annotator__username").distinct())
    return {str(uid): name for uid, name in rows}


def annotator_quality(scope) -> list[dict]:
    """Per annotator and project in `scope` (a queryset of Assignments the caller may aggregate):
    leave-one-out OKS, gold OKS, per-keypoint bias, rejection rate, flags per 100 images and
    median active seconds per image. A handful of set-based queries, none per annotator.

    - leave-one-out OKS: mean over scored images of the annotator's OKS against the others' consensus;
    - gold OKS: mean of their GoldScores (qualification included);
    - bias: the latest project report's findings for them (direction and size in sigmas);
    - rejection rate: images sent back to them by a QA lead / images they submitted;
    - flags per 100 images: automatic flags raised on their instances per 100 scored images.
    """
    from django.db.models import Avg, Count, Q

    from annotation.stats import Median, sql_median_available

    from .models import GoldScore, ProjectAgreement

    State = Assignment.State
    # Images they labeled: submitted, or sent back to them (rework) or set aside (rejected) after a submit.
    labeled = scope.filter(state__in=[State.SUBMITTED, State.REJECTED, State.REWORK])
    submitted = scope.filter(state=State.SUBMITTED)
    per_pair = labeled.values("annotator_id", "annotator__username", "project_id", "project__name").annotate(
        images=Count("image_id", distinct=True),
        **({"median_ms": Median("active_ms", filter=Q(state=State.SUBMITTED))} if sql_median_available() else {}),
    )
    rows = {(r["annotator_id"], r["project_id"]): r for r in per_pair}
    if not rows:
        return []
    users = {u for u, _ in rows}
    projects = {p for _, p in rows}
    loo, flags = _loo_and_flags(users, projects)
    gold = {
        (g["annotator_id"], g["project_id"]): (g["oks"], g["n"])
        for g in GoldScore.objects.filter(annotator_id__in=users, project_id__in=projects)
        .values("annotator_id", "project_id").annotate(oks=Avg("oks"), n=Count("id"))
    }
    rejected: dict[tuple, int] = {}
    for project_id, payload in ReviewDecision.objects.filter(
        project_id__in=projects, action=ReviewDecision.Action.REJECT
    ).values_list("project_id", "payload"):
        for user in payload.get("annotators", []):
            rejected[(user, project_id)] = rejected.get((user, project_id), 0) + 1
    biases: dict[tuple, list] = {}
    for project_id, report in ProjectAgreement.objects.filter(project_id__in=projects).values_list(
        "project_id", "report"
    ):
        for finding in report.get("biases") or []:
            biases.setdefault((finding["annotator"], project_id), []).append({
                "keypoint": finding["name"], "dx_sigmas": round(finding["dx"], 3), "dy_sigmas": round(finding["dy"], 3),
                "size_sigmas": round((finding["dx"] ** 2 + finding["dy"] ** 2) ** 0.5, 3), "text": finding.get("text"),
            })
    medians = {} if sql_median_available() else _median_ms_in_python(submitted)
    out = []
    for key, row in sorted(rows.items()):
        loo_oks, scored = loo.get(key, (None, 0))
        images = row["images"]
        median_ms = row.get("median_ms", medians.get(key))
        out.append({
            "annotator": {"id": key[0], "username": row["annotator__username"]},
            "project": {"id": key[1], "name": row["project__name"]},
            "images": images,
            "loo_oks": None if loo_oks is None else round(loo_oks, 4),
            "scored_images": scored,
            "gold_oks": round(gold[key][0], 4) if key in gold else None,
            "gold_images": gold[key][1] if key in gold else 0,
            "keypoint_bias": biases.get(key, []),
            "rejection_rate": round(rejected.get(key, 0) / images, 4) if images else None,
            "flags_per_100_images": round(100 * flags.get(key, 0) / scored, 2) if scored else None,
            "median_active_seconds_per_image": None if median_ms is None else round(median_ms / 1000, 3),
        })
    return out


def _median_ms_in_python(submitted) -> dict:
    import statistics

    values: dict[tuple, list] = {}
    for user, project, ms in submitted.values_list("annotator_id", "project_id", "active_ms"):
        values.setdefault((user, project), []).append(ms)
    return {key: statistics.median(v) for key, v in values.items()}


#: Per (annotator, project): mean leave-one-out OKS and scored images, from the JSON of every
#: ConsensusResult, aggregated by PostgreSQL; and the flags raised on each annotator's instances.
_LOO_SQL = """
    SELECT e.key::bigint, cr.project_id, AVG((e.value->>'oks')::float8), COUNT(*)
    FROM review_consensusresult cr, jsonb_each(cr.annotator_scores->'per_annotator') e
    WHERE cr.project_id = ANY(%(projects)s) AND e.key = ANY(%(users)s)
    GROUP BY 1, 2
"""
_FLAGS_SQL = """
    SELECT (f->>'annotator')::bigint, cr.project_id, COUNT(*)
    FROM review_consensusresult cr, jsonb_array_elements(cr.flags) f
    WHERE cr.project_id = ANY(%(projects)s) AND f->>'annotator' = ANY(%(users)s)
    GROUP BY 1, 2
"""


def _loo_and_flags(users: set, projects: set) -> tuple[dict, dict]:
    from django.db import connection

    if connection.vendor == "postgresql":
        params = {"projects": list(projects), "users": [str(u) for u in users]}
        with connection.cursor() as cursor:
            cursor.execute(_LOO_SQL, params)
            loo = {(u, p): (mean, n) for u, p, mean, n in cursor.fetchall()}
            cursor.execute(_FLAGS_SQL, params)
            flags = {(u, p): n for u, p, n in cursor.fetchall()}
        return loo, flags
    sums: dict[tuple, list] = {}
    flags: dict[tuple, int] = {}
    for project_id, scores, raised in ConsensusResult.objects.filter(project_id__in=projects).values_list(
        "project_id", "annotator_scores", "flags"
    ).iterator(chunk_size=2000):
        for user, score in (scores.get("per_annotator") or {}).items():
            sums.setdefault((int(user), project_id), []).append(score["oks"])
        for flag in raised:
            key = (flag.get("annotator"), project_id)
            flags[key] = flags.get(key, 0) + 1
    return {key: (sum(v) / len(v), len(v)) for key, v in sums.items()}, flags
