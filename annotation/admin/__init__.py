"""Django admin of the annotation app, one module per area."""

from . import instructions, projects, skeletons, workforce  # noqa: F401  (registers the ModelAdmins)
