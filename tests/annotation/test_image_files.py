"""`GET /api/v1/images/{id}/file/`: an image's file to exactly those the API lets see the image."""

import io
from datetime import timedelta

import pytest
from django.core.files.storage import FileSystemStorage
from django.test import Client
from django.utils import timezone
from PIL import Image as PILImage

from annotation.models import Assignment, Image, ProjectAnnotator

from .factories import client_for, make_world

pytestmark = pytest.mark.django_db


def _jpeg(color: str) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (4, 3), color).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _store(media, images, colors=("red", "green", "blue", "white", "black", "gray")) -> dict[int, bytes]:
    """Put a distinct JPEG where each image's row says its file is."""
    contents = {}
    for image, color in zip(images, colors):
        path = media / image.file.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(contents.setdefault(image.pk, _jpeg(color)))
    return contents


def _hold(user, image, vendor, state=Assignment.State.SUBMITTED):
    now = timezone.now()
    return Assignment.objects.create(
        project=image.project, image=image, annotator=user, vendor=vendor, state=state, leased_at=now,
        lease_expires_at=now + timedelta(minutes=10), submitted_at=now if state == Assignment.State.SUBMITTED else None,
    )


def url(image) -> str:
    return f"/api/v1/images/{image.pk}/file/"


def test_each_role_gets_the_file_exactly_when_the_api_lets_them_see_the_image(media):
    world = make_world(images=2)
    plain, gold = world.images
    Image.objects.filter(pk=gold.pk).update(is_gold=True)
    contents = _store(media, world.images)
    _hold(world["annotator_a"], plain, world.vendor_a)
    _hold(world["annotator_b"], gold, world.vendor_b, state=Assignment.State.LEASED)  # served blind, as a task
    elsewhere = make_world(images=1)
    # (user, status for the plain image, status for the gold one)
    expected = {
        "annotator holding an assignment on it": (world["annotator_a"], 200, 404),
        "annotator holding the gold image as a task": (world["annotator_b"], 404, 200),
        "annotator of the same project and vendor without an assignment": (world["annotator_a2"], 404, 404),
        "project manager of the organization": (world["project_manager"], 200, 200),
        "admin of the organization": (world["org_admin"], 200, 200),
        "QA lead of the organization": (world["org_qa_lead"], 200, 200),
        # The vendor's QA lead lists the project's images without the gold ones (access.sees_gold):
        # the file of a gold image is as unknown to them as its row.
        "QA lead of a granted vendor": (world["vendor_qa_lead_a"], 200, 404),
        # Vendor managers do not list a project's images at all.
        "manager of a granted vendor": (world["vendor_manager_a"], 404, 404),
        "staff": (world["staff"], 200, 200),
        "annotator of another organization": (elsewhere["annotator_a"], 404, 404),
        "project manager of another organization": (elsewhere["project_manager"], 404, 404),
        "QA lead of another organization's vendor": (elsewhere["vendor_qa_lead_a"], 404, 404),
        "signed in without any role": (world["outsider"], 404, 404),
    }
    for role, (user, *statuses) in expected.items():
        client = client_for(user)
        for image, status in zip((plain, gold), statuses):
            response = client.get(url(image))
            assert response.status_code == status, (role, image.is_gold)
            if status == 200:
                assert response["Content-Type"] == "image/jpeg", role
                assert b"".join(response.streaming_content) == contents[image.pk], role
            else:
                assert response.json() == {"detail": "No such image.", "errors": {}}, role
    anonymous = client_for(None).get(url(plain))
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Token"


def test_an_annotator_no_longer_staffed_loses_the_files_of_their_old_assignments(media):
    world = make_world(images=1)
    _store(media, world.images)
    _hold(world["annotator_a"], world.images[0], world.vendor_a)
    client = client_for(world["annotator_a"])
    assert client.get(url(world.images[0])).status_code == 200
    ProjectAnnotator.objects.filter(user=world["annotator_a"]).delete()
    assert client.get(url(world.images[0])).status_code == 404


def test_the_file_is_cached_privately_and_revalidated_by_its_sha256(media):
    world = make_world(images=1)
    image = world.images[0]
    _store(media, world.images)
    client = client_for(world["project_manager"])
    first = client.get(url(image))
    assert first.status_code == 200
    assert first["ETag"] == f'"{image.sha256}"'
    assert first["Cache-Control"] == "private, max-age=3600"
    again = client.get(url(image), HTTP_IF_NONE_MATCH=f'"{image.sha256}"')
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == f'"{image.sha256}"' and again["Cache-Control"] == "private, max-age=3600"
    changed = client.get(url(image), HTTP_IF_NONE_MATCH='"something-else"')
    assert changed.status_code == 200 and b"".join(changed.streaming_content)
    # The check comes first: a stranger guessing the ETag learns nothing either.
    stranger = client_for(make_world(images=1)["project_manager"])
    assert stranger.get(url(image), HTTP_IF_NONE_MATCH=f'"{image.sha256}"').status_code == 404


def test_browser_sessions_and_api_tokens_both_get_the_file(media):
    world = make_world(images=1)
    contents = _store(media, world.images)
    image = world.images[0]
    _hold(world["annotator_a"], image, world.vendor_a)
    browser = Client()
    browser.force_login(world["annotator_a"])
    response = browser.get(url(image), HTTP_ACCEPT="image/avif,image/webp,*/*")
    assert response.status_code == 200 and b"".join(response.streaming_content) == contents[image.pk]
    assert client_for(world["annotator_a"], token=True).get(url(image)).status_code == 200
    other = Client()
    other.force_login(world["annotator_a2"])
    assert other.get(url(image), HTTP_ACCEPT="image/*").status_code == 404  # the error stays JSON
    assert other.get(url(image), HTTP_ACCEPT="image/*").json()["detail"] == "No such image."


def test_the_media_folder_itself_is_not_served(media, settings):
    world = make_world(images=1)
    _store(media, world.images)
    for debug in (False, True):
        settings.DEBUG = debug
        browser = Client()
        browser.force_login(world["project_manager"])
        assert browser.get(f"{settings.MEDIA_URL}{world.images[0].file.name}").status_code == 404


def test_a_row_whose_file_is_gone_or_was_never_stored_is_a_404(media):
    world = make_world(images=2)
    client = client_for(world["project_manager"])
    assert client.get(url(world.images[0])).json()["detail"] == "No such image."  # nothing on disk
    Image.objects.filter(pk=world.images[1].pk).update(file="")  # a COCO import without image_root
    assert client.get(url(world.images[1])).status_code == 404
    assert client.get("/api/v1/images/999999999/file/").status_code == 404


class _RemoteStorage(FileSystemStorage):
    """What S3Storage looks like from here: no filesystem path, a signed URL of its own."""

    def path(self, name):
        raise NotImplementedError("remote")

    def url(self, name):
        return f"https://bucket.example/{name}?X-Amz-Signature=signed"


def test_remote_storage_is_a_redirect_to_its_signed_url_after_the_same_check(media, monkeypatch):
    world = make_world(images=1)
    image = world.images[0]
    monkeypatch.setattr(Image._meta.get_field("file"), "storage", _RemoteStorage())
    response = client_for(world["project_manager"]).get(url(image))
    assert response.status_code == 302
    assert response["Location"] == f"https://bucket.example/{image.file.name}?X-Amz-Signature=signed"
    assert response["Cache-Control"].startswith("private")
    assert client_for(world["annotator_a"]).get(url(image)).status_code == 404


def test_every_payload_links_the_file_through_the_checked_url(media):
    world = make_world(images=2)
    listing = client_for(world["project_manager"]).get(f"/api/v1/projects/{world.project.pk}/images/").json()
    assert [row["url"] for row in listing["results"]] == [url(image) for image in world.images]
    Image.objects.filter(pk=world.images[1].pk).update(file="")
    listing = client_for(world["project_manager"]).get(f"/api/v1/projects/{world.project.pk}/images/").json()
    assert listing["results"][1]["url"] is None


def test_a_gold_image_in_the_review_queue_is_judged_by_the_organization_never_by_the_vendor(media):
    from review.models import ReviewTask

    world = make_world(images=2)
    gold, plain = world.images
    Image.objects.filter(pk=gold.pk).update(is_gold=True)
    _store(media, world.images)
    gold_task = ReviewTask.objects.create(image=gold, project=world.project)
    plain_task = ReviewTask.objects.create(image=plain, project=world.project)
    vendor_qa = client_for(world["vendor_qa_lead_a"])
    # The vendor's QA lead is given the plain image only: a gold one would tell them what checks their people.
    leased = vendor_qa.post(f"/api/v1/projects/{world.project.pk}/reviews/next/").json()
    assert leased["task"]["id"] == plain_task.pk
    assert vendor_qa.post(f"/api/v1/reviews/{plain_task.pk}/release/").status_code in (200, 204)
    assert vendor_qa.post(f"/api/v1/projects/{world.project.pk}/reviews/next/").json()["task"]["id"] == plain_task.pk
    assert vendor_qa.get(f"/api/v1/reviews/{gold_task.pk}/").status_code == 404
    assert vendor_qa.get(f"/api/v1/images/{gold.pk}/history/").status_code == 404
    assert vendor_qa.get(url(gold)).status_code == 404
    # The organization's QA lead judges it, and may know it is gold.
    org_qa = client_for(world["org_qa_lead"])
    detail = org_qa.get(f"/api/v1/reviews/{gold_task.pk}/").json()
    assert detail["image"]["is_gold"] is True and org_qa.get(url(gold)).status_code == 200
