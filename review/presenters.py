"""Per-annotator figures cut down to the annotators the caller may know about.

A project granted to several vendors is scored as a whole; each vendor's QA
lead reads the figures of their own people only (access.visible_annotator_ids).
The aggregates (agreement, histogram, per keypoint) stay whole: they name nobody.
"""

from __future__ import annotations


def _keep(annotator_id, visible: set[int]) -> bool:
    try:
        return int(annotator_id) in visible
    except (TypeError, ValueError):
        return False


def consensus_annotators(per_annotator: dict, pairwise: dict, flags: list, visible: set[int] | None):
    """(per_annotator, pairwise, flags) of one image, limited to `visible` (None keeps all)."""
    if visible is None:
        return per_annotator, pairwise, flags
    return (
        {key: value for key, value in per_annotator.items() if _keep(key, visible)},
        {key: value for key, value in pairwise.items()
         if all(_keep(part, visible) for part in str(key).split("-"))},
        [flag for flag in flags if _keep(flag.get("annotator"), visible)],
    )


def agreement_report(report: dict, visible: set[int] | None) -> dict:
    """A project report whose `annotators` columns and `biases` keep only `visible` annotators."""
    if visible is None:
        return report
    table = report.get("annotators") or {}
    sources = list(table.get("source") or [])
    keep = [i for i, source in enumerate(sources) if _keep(source, visible)]
    annotators = {
        name: [column[i] for i in keep] if isinstance(column, list) and len(column) == len(sources) else column
        for name, column in table.items()
    }
    # A bias names its annotator by position in the table.
    biases = [
        bias for bias in report.get("biases") or []
        if isinstance(bias.get("source"), int) and bias["source"] < len(sources)
        and _keep(sources[bias["source"]], visible)
    ]
    position = {old: new for new, old in enumerate(keep)}
    biases = [{**bias, "source": position[bias["source"]]} for bias in biases]
    return {**report, "annotators": annotators, "biases": biases}
