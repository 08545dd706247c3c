"""Blind by construction: an annotator never reads another annotator's labels of the same image,
nor the consensus, while the image is in annotation, through any endpoint.

Labels are planted with a marker coordinate that appears nowhere else; every
endpoint is then read (and its detail routes tried with the others' ids) by
an annotator who shares the image, and the marker must not come back.
"""

import json

import pytest

from annotation.access import readable_annotations
from annotation.models import Annotation, Assignment
from annotation.engine import next_task, submit_assignment

from .factories import client_for, instance, make_world

pytestmark = pytest.mark.django_db

MARKER_X = 123.4567  # the other annotator's keypoints
CONSENSUS_X = 234.5678


def shared_image_scenario():
    """annotator_a2 submitted image I with marker labels; a consensus exists; annotator_a now leases I."""
    world = make_world(images=1, replicas=3)
    project = world.project
    other, _ = next_task(world["annotator_a2"], project, vendor_id=world.vendor_a.pk)
    submit_assignment(other, [instance(x=MARKER_X)])
    Annotation.objects.create(image=world.images[0], source="consensus", instances=[instance(x=CONSENSUS_X)])
    return world, other


def leaks(response) -> bool:
    body = response.content.decode() if hasattr(response, "content") else ""
    return str(MARKER_X) in body or str(CONSENSUS_X) in body


def urls_to_try(world, other: Assignment, own_id: int):
    project, image, vendor = world.project.pk, world.images[0].pk, world.vendor_a.pk
    return [
        ("post", f"/api/v1/projects/{project}/tasks/next/"),
        ("get", "/api/v1/assignments/"),
        ("get", f"/api/v1/assignments/?project={project}&state=submitted"),
        ("get", f"/api/v1/assignments/{own_id}/"),
        ("get", f"/api/v1/assignments/{other.pk}/"),
        ("put", f"/api/v1/assignments/{other.pk}/"),
        ("post", f"/api/v1/assignments/{other.pk}/submit/"),
        ("post", f"/api/v1/assignments/{other.pk}/release/"),
        ("post", f"/api/v1/assignments/{other.pk}/heartbeat/"),
        ("get", f"/api/v1/projects/{project}/instructions/"),
        ("get", "/api/v1/workforce/stats/"),
        ("get", f"/api/v1/workforce/stats/?annotator={other.annotator_id}"),
        ("get", f"/api/v1/vendors/{vendor}/members/"),
        ("get", f"/api/v1/vendors/{vendor}/staffing/"),
        # The rest of the API: the projects issue's and the review issue's routes.
        ("get", "/api/v1/projects/"),
        ("get", f"/api/v1/projects/{project}/"),
        ("get", f"/api/v1/projects/{project}/images/"),
        ("get", f"/api/v1/projects/{project}/export-coco/"),
        ("get", f"/api/v1/projects/{project}/agreement/"),
        ("get", f"/api/v1/images/{image}/consensus/"),
        ("post", f"/api/v1/projects/{project}/reviews/next/"),
    ]


@pytest.mark.parametrize("role", ["annotator_a", "annotator_b"])
def test_an_annotator_sharing_the_image_reads_nothing_of_the_others_labels(role):
    world, other = shared_image_scenario()
    vendor = world.vendor_a if role == "annotator_a" else world.vendor_b
    own, _ = next_task(world[role], world.project, vendor_id=vendor.pk)
    assert own.image_id == other.image_id  # they really share the image
    client = client_for(world[role])
    for method, url in urls_to_try(world, other, own.pk):
        response = getattr(client, method)(url, {"instances": [instance(x=1)]} if method != "get" else None,
                                           format="json")
        assert not leaks(response), (method, url, response.status_code)
        if f"/assignments/{other.pk}/" in url:
            assert response.status_code == 404, (method, url)
    # Nothing they did through those routes touched the other's work.
    other.refresh_from_db()
    assert other.state == "submitted" and other.annotation.instances[0]["keypoints"][0] == MARKER_X


def test_a_person_who_is_vendor_manager_and_annotator_still_labels_blind():
    world, other = shared_image_scenario()
    manager = world["vendor_manager_a"]
    from annotation.models import Membership, ProjectAnnotator

    Membership.objects.create(user=manager, role="annotator", vendor=world.vendor_a)
    ProjectAnnotator.objects.create(user=manager, project=world.project, vendor=world.vendor_a)
    own, _ = next_task(manager, world.project, vendor_id=world.vendor_a.pk)
    assert own.image_id == other.image_id
    client = client_for(manager)
    for method, url in urls_to_try(world, other, own.pk):
        response = getattr(client, method)(url, {} if method != "get" else None, format="json")
        assert not leaks(response), (method, url)
    assert not readable_annotations(manager).filter(annotator=world["annotator_a2"]).exists()


def test_the_task_payload_holds_only_the_callers_own_draft():
    world, other = shared_image_scenario()
    Assignment.objects.filter(pk=other.pk).update(draft={"instances": [instance(x=MARKER_X)]})
    response = client_for(world["annotator_a"]).post(f"/api/v1/projects/{world.project.pk}/tasks/next/")
    assert response.status_code == 201
    assert response.data["draft"] is None and response.data["prelabel"] is None
    assert str(MARKER_X) not in json.dumps(response.data, default=str)


def test_readable_annotations_is_blind_while_in_annotation_and_opens_after():
    world, other = shared_image_scenario()
    image = world.images[0]
    own, _ = next_task(world["annotator_a"], world.project, vendor_id=world.vendor_a.pk)
    submit_assignment(own, [instance(x=10)])

    def sources(user):
        return sorted((a.source, a.annotator_id) for a in readable_annotations(user))

    a, a2 = world["annotator_a"].pk, world["annotator_a2"].pk
    assert sources(world["annotator_a"]) == [("annotator", a)]
    assert sources(world["annotator_b"]) == []
    assert sources(world["vendor_qa_lead_a"]) == []  # vendor side waits until annotation ends
    assert len(sources(world["org_qa_lead"])) == 3  # the organization owns the data

    image.status = "review"
    image.save(update_fields=["status"])
    assert sources(world["annotator_a"]) == [("annotator", a)]  # annotators never read each other
    assert sorted(sources(world["vendor_qa_lead_a"])) == sorted([("annotator", a), ("annotator", a2)])
    assert sources(world["vendor_manager_b"]) == []  # vendor B never reads vendor A's people
