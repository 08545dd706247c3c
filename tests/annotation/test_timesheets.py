"""Per-annotator numbers and the CSV timesheet, on work done at known times."""

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest

from annotation import stats
from annotation.models import Assignment, Membership, Organization, Vendor
from annotation.engine import expire_overdue_leases, next_task, submit_assignment

from .factories import client_for, grant, instance, make_images, make_project, make_user

pytestmark = pytest.mark.django_db

D1 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
D2 = datetime(2026, 3, 3, 8, 0, tzinfo=timezone.utc)


def work(user, project, vendor, start, seconds, instances):
    """Lease at `start`, submit `seconds` later with that much client-reported active time."""
    assignment, created = next_task(user, project, vendor_id=vendor.pk, now=start)
    assert created
    end = start + timedelta(seconds=seconds)
    submit_assignment(assignment, [instance(x=10 + i) for i in range(instances)],
                      client_active_ms=seconds * 1000, now=end)
    return assignment


@pytest.fixture
def ledger():
    """Known work: ann_a (vendor A) on P1 and P2, ann_a2 (A) on P1 near midnight, ann_b (B) on P1."""
    from annotation.models import ProjectAnnotator

    organization = Organization.objects.create(name="Client")
    vendor_a = Vendor.objects.create(name="Vendor A")
    vendor_b = Vendor.objects.create(name="Vendor B")
    p1 = make_project(organization, vendors=[vendor_a, vendor_b], replicas=3, lease_seconds=600)
    p2 = make_project(organization, vendors=[vendor_a], replicas=3)
    make_images(p1, 6)
    make_images(p2, 2)
    users = {}
    for name, vendor, projects in (("ann_a", vendor_a, [p1, p2]), ("ann_a2", vendor_a, [p1]), ("ann_b", vendor_b, [p1])):
        users[name] = make_user(name)
        grant(users[name], Membership.Role.ANNOTATOR, vendor=vendor)
        for project in projects:
            ProjectAnnotator.objects.create(project=project, user=users[name], vendor=vendor)
    users["manager_a"] = make_user("manager_a")
    grant(users["manager_a"], Membership.Role.VENDOR_MANAGER, vendor=vendor_a)

    first = work(users["ann_a"], p1, vendor_a, D1, 10, 1)
    work(users["ann_a"], p1, vendor_a, D1 + timedelta(minutes=5), 20, 2)
    work(users["ann_a"], p1, vendor_a, D1 + timedelta(minutes=10), 60, 3)
    next_task(users["ann_a"], p1, vendor_id=vendor_a.pk, now=D1 + timedelta(hours=1))  # left to expire
    assert expire_overdue_leases(now=D1 + timedelta(hours=2)) == 1
    Assignment.objects.filter(pk=first.pk).update(state=Assignment.State.REJECTED)  # as review would
    work(users["ann_a"], p2, vendor_a, D2, 40, 1)
    work(users["ann_a2"], p1, vendor_a, datetime(2026, 3, 2, 23, 30, tzinfo=timezone.utc), 30, 3)
    work(users["ann_b"], p1, vendor_b, D1, 5, 1)
    return {"vendor_a": vendor_a, "vendor_b": vendor_b, "p1": p1, "p2": p2, **users}


def row(day, username, project, submitted, active, per_image, per_instance, expiries=0, rejections=0):
    return {
        "day": day, "username": username, "project": project.pk, "tasks_submitted": submitted,
        "active_seconds": active, "median_seconds_per_image": per_image,
        "median_seconds_per_instance": per_instance, "lease_expiries": expiries, "rejections": rejections,
    }


def flatten(results):
    return [
        {"day": r.get("day"), "username": r["annotator"]["username"], "project": r.get("project", {}).get("id"),
         **{k: r[k] for k in ("tasks_submitted", "active_seconds", "median_seconds_per_image",
                              "median_seconds_per_instance", "lease_expiries", "rejections")}}
        for r in results
    ]


def test_vendor_manager_numbers_by_day_and_project(ledger):
    response = client_for(ledger["manager_a"]).get(
        "/api/v1/workforce/stats/", {"date_from": "2026-03-01", "date_to": "2026-03-04"}
    )
    assert response.status_code == 200
    p1, p2 = ledger["p1"], ledger["p2"]
    assert flatten(response.data["results"]) == [
        row("2026-03-02", "ann_a", p1, 3, 90.0, 20.0, 10.0, expiries=1, rejections=1),
        row("2026-03-02", "ann_a2", p1, 1, 30.0, 30.0, 10.0),
        row("2026-03-03", "ann_a", p2, 1, 40.0, 40.0, 40.0),
    ]


def test_days_follow_the_requested_time_zone(ledger):
    response = client_for(ledger["manager_a"]).get(
        "/api/v1/workforce/stats/",
        {"date_from": "2026-03-03", "date_to": "2026-03-03", "tz": "Asia/Tokyo", "group_by": "day"},
    )
    # 23:30 UTC on March 2 is 08:30 on March 3 in Tokyo; 08:00 UTC on March 3 is the same day there.
    assert [(r["day"], r["annotator"]["username"], r["tasks_submitted"]) for r in response.data["results"]] == [
        ("2026-03-03", "ann_a", 1), ("2026-03-03", "ann_a2", 1),
    ]
    assert "project" not in response.data["results"][0]


def test_grouped_by_project_only(ledger):
    response = client_for(ledger["manager_a"]).get(
        "/api/v1/workforce/stats/",
        {"date_from": "2026-03-01", "date_to": "2026-03-04", "group_by": "project", "annotator": ledger["ann_a"].pk},
    )
    assert [(r["project"]["id"], r["tasks_submitted"], r["active_seconds"]) for r in response.data["results"]] == [
        (ledger["p1"].pk, 3, 90.0), (ledger["p2"].pk, 1, 40.0),
    ]


def test_the_python_medians_of_the_embedded_default_match_the_sql_ones(ledger, monkeypatch):
    period = stats.Period(datetime(2026, 3, 1).date(), datetime(2026, 3, 4).date(), stats.ZoneInfo("UTC"))
    scope = Assignment.objects.all()
    in_sql = stats.annotator_numbers(scope, period, now=D2)
    monkeypatch.setattr(stats, "sql_median_available", lambda: False)
    in_python = stats.annotator_numbers(scope, period, now=D2)
    assert in_python == in_sql and len(in_sql) == 4


def test_csv_timesheet_for_a_vendor(ledger):
    ledger["ann_a2"].first_name = '=HYPERLINK("http://evil")'
    ledger["ann_a2"].save()
    response = client_for(ledger["manager_a"]).get(
        f"/api/v1/vendors/{ledger['vendor_a'].pk}/timesheet/", {"date_from": "2026-03-01", "date_to": "2026-03-31"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="timesheet-vendor' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    p1, p2 = ledger["p1"], ledger["p2"]
    assert rows == [
        ["date", "vendor", "annotator_username", "annotator_name", "project_id", "project_name", "tasks_submitted",
         "active_hours", "active_seconds", "median_seconds_per_image", "median_seconds_per_instance",
         "lease_expiries", "rejections"],
        ["2026-03-02", "Vendor A", "ann_a", "", str(p1.pk), p1.name, "3", "0.0250", "90.000", "20.0", "10.0", "1", "1"],
        ["2026-03-02", "Vendor A", "ann_a2", "'=HYPERLINK(\"http://evil\")", str(p1.pk), p1.name, "1", "0.0083",
         "30.000", "30.0", "10.0", "0", "0"],
        ["2026-03-03", "Vendor A", "ann_a", "", str(p2.pk), p2.name, "1", "0.0111", "40.000", "40.0", "40.0", "0", "0"],
    ]
    assert "ann_b" not in response.content.decode()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_to": "2026-03-31"}, "date_from"),
        ({"date_from": "2026-03-01"}, "date_to"),
        ({"date_from": "2026-03-31", "date_to": "2026-03-01"}, "date_from"),
        ({"date_from": "03/01/2026", "date_to": "2026-03-31"}, "date_from"),
        ({"date_from": "2024-01-01", "date_to": "2026-03-31"}, "date_to"),
        ({"date_from": "2026-03-01", "date_to": "2026-03-31", "tz": "Mars/Olympus"}, "tz"),
    ],
)
def test_bad_timesheet_periods_name_the_parameter(ledger, params, field):
    response = client_for(ledger["manager_a"]).get(f"/api/v1/vendors/{ledger['vendor_a'].pk}/timesheet/", params)
    assert response.status_code == 400 and field in response.data["errors"], response.data


@pytest.mark.parametrize(("params", "field"), [({"group_by": "week"}, "group_by"), ({"project": "x"}, "project")])
def test_bad_stats_parameters_name_the_parameter(ledger, params, field):
    response = client_for(ledger["manager_a"]).get("/api/v1/workforce/stats/", params)
    assert response.status_code == 400 and field in response.data["errors"]


def test_admin_numbers_page_and_csv(ledger, client):
    admin = make_user("boss", is_staff=True, is_superuser=True)
    client.force_login(admin)
    page = client.get("/admin/annotation/assignment/numbers/",
                      {"vendor": ledger["vendor_a"].pk, "date_from": "2026-03-01", "date_to": "2026-03-04"})
    assert page.status_code == 200
    assert [r["annotator"]["username"] for r in page.context["rows"]] == ["ann_a", "ann_a2", "ann_a"]
    assert b"ann_b" not in page.content
    download = client.get("/admin/annotation/assignment/numbers/", {
        "vendor": ledger["vendor_a"].pk, "date_from": "2026-03-01", "date_to": "2026-03-04", "format": "csv",
    })
    assert download["Content-Type"].startswith("text/csv") and download.content.count(b"\r\n") == 4
