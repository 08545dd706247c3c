"""Signals the annotation app sends for higher apps to act on, without importing them.

`gold_submitted` is sent inside the submit transaction when an annotator
submits a gold image, so the review app scores it against gold (and updates
qualification and pausing) before the annotator's next request: the engine
reads the outcome from the staffing row with no extra query.
"""

from django.dispatch import Signal

#: kwargs: assignment (the submitted Assignment, locked), project (the Project, possibly partial)
gold_submitted = Signal()
