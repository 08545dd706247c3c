"""Reads for the review side that more than one view needs."""

from __future__ import annotations

from typing import Iterable

from annotation.access import statistics_scope
from annotation.models import Project


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
