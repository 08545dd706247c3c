"""Whether a staffed caller may work now: instructions, qualification, pausing.

The engine's rules of who may take which image (`rules.py`) assume a caller
who may work at all; these decide that, from the columns `access.task_context`
reads in its one statement, so the hot path spends no extra query. The API
views and the fast lane translate a refusal into HTTP; the demo's simulated
annotators ask the same questions.
"""

from __future__ import annotations

import json

from ..models import Project


def must_acknowledge_first(project: Project) -> bool:
    """The project has instructions whose current version the caller has not acknowledged."""
    return bool(project.instructions_id) and not project.acknowledged


def qualifying(project: Project) -> bool:
    """The caller must still qualify on gold before production tasks (from task_context's staffing columns)."""
    return bool(project.qualification_images) and project.staffing_qualification != "passed"


def _json_column(value):
    return json.loads(value) if isinstance(value, str) else value


def work_refusal(project: Project) -> tuple[str, dict] | None:
    """Why a staffed caller may not work now (paused, or failed qualification), or None.

    Both are decided by review/services/quality.py and read from the staffing
    row in task_context's one statement: no extra query on the hot path.
    """
    if project.staffing_paused_at is not None:
        reason = _json_column(project.staffing_paused_reason) or {}
        return reason.get("message", "You are paused on this project."), {"paused": reason}
    if qualifying(project) and project.staffing_qualification == "failed":
        result = _json_column(project.staffing_qualification_result) or {}
        return (
            f"You did not pass this project's qualification: mean gold OKS {result.get('mean_oks')} is below "
            f"{result.get('threshold')}. Your per-keypoint mistakes are listed under errors.qualification.",
            {"qualification": result},
        )
    return None
