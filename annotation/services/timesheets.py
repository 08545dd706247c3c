"""The CSV timesheet a vendor bills from: one row per day, annotator and project.

A read, not a state change; it lives beside the services because vendors
treat it as a document of record. Figures come from `annotation.stats`, so
the CSV and the stats API can never disagree.
"""

from __future__ import annotations

import csv
import io

from ..stats import Period, annotator_numbers

COLUMNS = [
    "date", "vendor", "annotator_username", "annotator_name", "project_id", "project_name",
    "tasks_submitted", "active_hours", "active_seconds", "median_seconds_per_image",
    "median_seconds_per_instance", "lease_expiries", "rejections",
]
#: Spreadsheet programs run a cell that starts with one of these as a formula;
#: a username like "=HYPERLINK(...)" must stay text in a billing document.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def timesheet_csv(scope, period: Period) -> str:
    """The vendor's timesheet over the period as CSV text (header row first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in annotator_numbers(scope, period, group_by=("day", "project")):
        seconds = row["active_seconds"] or 0.0
        writer.writerow([_cell(v) for v in (
            row["day"], row["vendor"], row["annotator"]["username"], row["annotator"]["name"],
            row["project"]["id"], row["project"]["name"], row["tasks_submitted"], f"{seconds / 3600:.4f}",
            f"{seconds:.3f}", row["median_seconds_per_image"], row["median_seconds_per_instance"],
            row["lease_expiries"], row["rejections"],
        )])
    return out.getvalue()
