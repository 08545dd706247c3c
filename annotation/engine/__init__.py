"""The assignment engine: every rule of who may take an image, in one package.

- `rules.py`: the rules, once each (candidate condition, replica limit, last
  replica), as Python, ORM and SQL side by side.
- `reference.py`: the engine's statements with the ORM, the readable
  reference and what SQLite (the embedded default) runs.
- `postgres.py`: the same statements for PostgreSQL, in fewer round trips;
  the tests run both on the same cases.
- `admission.py`: whether a staffed caller may work now (instructions,
  qualification, pausing), from the task context's columns.
- `leases.py` (next task), `work.py` (draft, heartbeat, release),
  `submit.py`, `expiry.py`: the steps, written once over either set of statements.

README.md beside this file has the flowchart. Image status changes go through
the state machine (`annotation/services/image_status.py`).
"""

from .expiry import expire_overdue_leases
from .leases import SELECTION_ATTEMPTS, next_task, open_lease
from .reference import recount_images
from .submit import submission_digest, submit_assignment
from .work import MAX_DRAFT_BYTES, LeaseConflict, heartbeat, release_assignment, save_draft

__all__ = [
    "MAX_DRAFT_BYTES", "SELECTION_ATTEMPTS", "LeaseConflict", "expire_overdue_leases", "heartbeat", "next_task",
    "open_lease", "recount_images", "release_assignment", "save_draft", "submission_digest", "submit_assignment",
]
