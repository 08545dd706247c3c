"""Image upload, hardening, listing, and the register_images command."""

import hashlib
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Image, Membership

from .projects_fixtures import (  # noqa: F401  (fixtures)
    annotation_table_counts, arm_skeleton, jpeg_bytes, make_images, manager_client, member_client, org, png_bomb,
    png_bytes, project, vendor,
)

pytestmark = pytest.mark.django_db


def upload(client, project, files, partial=False):
    data = {"files": [_named(content, name) for name, content in files]}
    url = f"/api/v1/projects/{project.pk}/images/" + ("?partial=1" if partial else "")
    return client.post(url, data, format="multipart")


def _named(content: bytes, name: str):
    handle = io.BytesIO(content)
    handle.name = name
    return handle


def stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_upload_records_size_hash_and_content_addressed_path(manager_client, project, settings):
    red, green = png_bytes(8, 6), jpeg_bytes(32, 24)
    response = upload(manager_client, project, [("../../etc/passwd.png", red), ("C:\\x\\green.jpg", green)])
    assert response.status_code == 201, response.data
    assert [r["status"] for r in response.data["results"]] == ["created", "created"]
    first, second = (Image.objects.get(pk=r["image_id"]) for r in response.data["results"])
    assert (first.file_name, first.width, first.height) == ("passwd.png", 8, 6)
    assert (second.file_name, second.width, second.height) == ("green.jpg", 32, 24)
    assert first.sha256 == hashlib.sha256(red).hexdigest()
    assert first.file.name == f"projects/{project.pk}/{first.sha256[:2]}/{first.sha256}.png"
    assert second.file.name.endswith(".jpg")
    assert Path(first.file.path).read_bytes() == red
    assert all(Path(settings.MEDIA_ROOT).resolve() in p.resolve().parents for p in stored_files(settings))


def test_duplicates_are_reported_and_stored_once(manager_client, project, settings):
    red = png_bytes()
    first = upload(manager_client, project, [("a.png", red)]).data["results"][0]["image_id"]
    response = upload(manager_client, project, [("b.png", red), ("c.png", png_bytes(color=(0, 0, 255))), ("d.png", red)])
    assert response.status_code == 201
    statuses = [(r["file_name"], r["status"], r.get("image_id")) for r in response.data["results"]]
    new_id = response.data["results"][1]["image_id"]
    assert statuses == [("b.png", "duplicate", first), ("c.png", "created", new_id), ("d.png", "duplicate", first)]
    assert Image.objects.filter(project=project).count() == 2
    assert len(stored_files(settings)) == 2


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("notes.png", b"this is not an image at all", "not an image"),
        ("cut.jpg", jpeg_bytes(64, 64)[:400], "truncated"),
        ("bomb.png", png_bomb(), "decompression bomb"),
        ("empty.png", b"", "empty"),
    ],
)
def test_a_bad_file_rejects_the_whole_batch(manager_client, project, settings, name, content, reason):
    before = annotation_table_counts()
    response = upload(manager_client, project, [("good.png", png_bytes()), (name, content)])
    assert response.status_code == 400
    results = {r["file_name"]: r for r in response.data["results"]}
    assert results[name]["status"] == "rejected"
    assert reason in results[name]["reason"]
    assert results["good.png"]["status"] == "not_stored"
    assert name in response.data["errors"]["files"][0]
    assert annotation_table_counts() == before
    assert stored_files(settings) == []


def test_partial_stores_the_good_files_and_reports_the_bad(manager_client, project):
    response = upload(manager_client, project, [("good.png", png_bytes()), ("bad.png", b"GIF89a-nope")], partial=True)
    assert response.status_code == 201
    assert [r["status"] for r in response.data["results"]] == ["created", "rejected"]
    assert list(Image.objects.filter(project=project).values_list("file_name", flat=True)) == ["good.png"]


def test_pixel_limit_between_one_and_two_times_is_also_a_bomb(manager_client, project, settings):
    settings.MAX_IMAGE_PIXELS = 1000  # Pillow only *warns* up to 2x its limit; we refuse
    response = upload(manager_client, project, [("big.png", png_bytes(40, 40))])
    assert response.status_code == 400
    assert "1600 pixels" in response.data["results"][0]["reason"]
    assert not Image.objects.exists()


def test_byte_limit(manager_client, project, settings):
    settings.MAX_IMAGE_UPLOAD_BYTES = 50
    response = upload(manager_client, project, [("a.png", png_bytes())])
    assert response.status_code == 400
    assert "MAX_IMAGE_UPLOAD_BYTES" in response.data["results"][0]["reason"]


def test_upload_without_files_is_a_400_naming_the_field(manager_client, project):
    response = manager_client.post(f"/api/v1/projects/{project.pk}/images/", {}, format="multipart")
    assert response.status_code == 400
    assert "files" in response.data["errors"]


def test_listing_filters_and_paginates_in_constant_queries(manager_client, project, django_assert_max_num_queries):
    make_images(project, [f"cam1/{i:03d}.jpg" for i in range(30)])
    make_images(project, ["gold_1.jpg", "gold_2.jpg"], is_gold=True, status="accepted")
    make_images(project, ["review.jpg"], status="review")
    url = f"/api/v1/projects/{project.pk}/images/"
    with django_assert_max_num_queries(6):  # project lookup, access check, count, one page
        page = manager_client.get(url)
    assert page.data["count"] == 33
    assert [r["file_name"] for r in page.data["results"]][:2] == ["cam1/000.jpg", "cam1/001.jpg"]
    assert [r["file_name"] for r in manager_client.get(url, {"is_gold": "true"}).data["results"]] == ["gold_1.jpg", "gold_2.jpg"]
    assert [r["file_name"] for r in manager_client.get(url, {"status": "review,accepted"}).data["results"]] == [
        "gold_1.jpg", "gold_2.jpg", "review.jpg"]
    assert manager_client.get(url, {"file_name": "CAM1/00"}).data["count"] == 10
    second = manager_client.get(url, {"page_size": 10, "page": 2}).data
    assert [r["file_name"] for r in second["results"]] == [f"cam1/{i:03d}.jpg" for i in range(10, 20)]
    bad = manager_client.get(url, {"status": "finished"})
    assert bad.status_code == 400 and "status" in bad.data["errors"]
    assert manager_client.get(url, {"is_gold": "maybe"}).status_code == 400


def test_listing_query_count_does_not_grow_with_the_page(manager_client, project, django_assert_max_num_queries):
    make_images(project, [f"{i}.jpg" for i in range(100)])
    with django_assert_max_num_queries(6):
        response = manager_client.get(f"/api/v1/projects/{project.pk}/images/")
    assert len(response.data["results"]) == 100


def test_qa_lead_lists_images(django_user_model, project, org):
    qa = member_client(django_user_model, "qa", Membership.Role.QA_LEAD, organization=org)
    make_images(project, ["a.jpg"])
    response = qa.get(f"/api/v1/projects/{project.pk}/images/")
    assert response.status_code == 200
    assert [r["file_name"] for r in response.data["results"]] == ["a.jpg"]
    assert qa.post(f"/api/v1/projects/{project.pk}/images/", {}, format="multipart").status_code == 403


def test_register_images_command_copies_recursively_and_skips_duplicates(project, tmp_path, settings):
    folder = tmp_path / "incoming"
    (folder / "cam1").mkdir(parents=True)
    (folder / "cam2").mkdir()
    (folder / "cam1" / "0001.png").write_bytes(png_bytes(color=(1, 2, 3)))
    (folder / "cam2" / "0001.png").write_bytes(png_bytes(color=(4, 5, 6)))
    (folder / "cam2" / "copy.png").write_bytes(png_bytes(color=(4, 5, 6)))
    (folder / "cam2" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (folder / "readme.txt").write_text("not an image")
    out, err = io.StringIO(), io.StringIO()
    call_command("register_images", project.pk, str(folder), stdout=out, stderr=err, verbosity=0)
    assert "2 registered, 1 duplicate(s) skipped, 1 rejected." in out.getvalue()
    assert "broken.jpg" in err.getvalue()
    names = sorted(Image.objects.filter(project=project).values_list("file_name", flat=True))
    assert names == ["cam1/0001.png", "cam2/0001.png"]
    for image in Image.objects.filter(project=project):
        assert image.file.name.startswith(f"projects/{project.pk}/")
    call_command("register_images", project.pk, str(folder), stdout=io.StringIO(), stderr=io.StringIO(), verbosity=0)
    assert Image.objects.filter(project=project).count() == 2


def test_register_images_in_place_references_files_under_media_root(project, settings):
    folder = Path(settings.MEDIA_ROOT) / "datasets" / "batch1"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(png_bytes())
    call_command("register_images", project.pk, str(folder), "--in-place", stdout=io.StringIO(), verbosity=0)
    image = Image.objects.get(project=project)
    assert image.file.name == "datasets/batch1/a.png"
    assert not (Path(settings.MEDIA_ROOT) / "projects").exists()


def test_register_images_in_place_refuses_files_outside_media_root(project, tmp_path):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "a.png").write_bytes(png_bytes())
    with pytest.raises(CommandError, match="MEDIA_ROOT"):
        call_command("register_images", project.pk, str(folder), "--in-place", stdout=io.StringIO(), verbosity=0)
    assert not Image.objects.exists()


def test_upload_attaches_files_to_records_a_coco_import_created(manager_client, project):
    from annotation.models import Annotation

    records = make_images(project, ["images/a.png", "b.png"], width=8, height=6, file="")
    Annotation.objects.create(image=records[0], source="import", instances=[])
    response = upload(manager_client, project, [("a.png", png_bytes(8, 6)), ("b.png", png_bytes(9, 6, (0, 0, 0)))],
                      partial=True)
    assert response.status_code == 200  # nothing created; one attached, one refused
    by_name = {r["file_name"]: r for r in response.data["results"]}
    assert (by_name["a.png"]["status"], by_name["a.png"]["image_id"]) == ("attached", records[0].pk)
    assert by_name["b.png"]["status"] == "rejected"
    assert "was imported as 8x6, this file is 9x6" in by_name["b.png"]["reason"]
    records[0].refresh_from_db()
    assert records[0].file.name.endswith(".png") and records[0].sha256
    assert records[0].file_name == "images/a.png"  # the name the COCO file uses is kept
    assert Image.objects.filter(project=project).count() == 2
