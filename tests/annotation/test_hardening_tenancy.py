"""Issue 12, findings 1-5: the tenancy leaks found by hand, one regression test each."""

import io
import json

import pytest

from annotation.models import Image, Instructions, Membership, Organization, ProjectAnnotator, Vendor
from review.models import ConsensusResult, ProjectAgreement

from .factories import client_for, grant, make_project, make_user, make_world, unique

pytestmark = pytest.mark.django_db
Role = Membership.Role


def test_finding_1_another_organizations_instructions_cannot_be_attached_or_read():
    world = make_world(images=1)
    other_org = Organization.objects.create(name="Org B")
    secret = Instructions.objects.create(organization=other_org, title="B's guide", body="confidential")
    theirs = make_project(other_org)  # org B's project uses its guide
    theirs.instructions = secret
    theirs.save(update_fields=["instructions"])
    pm = client_for(world["project_manager"])
    response = pm.patch(f"/api/v1/projects/{world.project.pk}/", {"instructions": secret.pk}, format="json")
    # The same answer as for an id that does not exist: no oracle either.
    missing = pm.patch(f"/api/v1/projects/{world.project.pk}/", {"instructions": 999999}, format="json")
    assert response.status_code == missing.status_code == 400
    assert response.json()["errors"]["instructions"] == [f'Invalid pk "{secret.pk}" - object does not exist.']
    world.project.refresh_from_db()
    assert world.project.instructions_id is None
    body = client_for(world["annotator_a"]).get(f"/api/v1/projects/{world.project.pk}/instructions/")
    assert body.status_code == 404 and "confidential" not in body.content.decode()


def test_finding_1_own_instructions_are_attached():
    world = make_world(images=1)
    own = Instructions.objects.create(organization=world.organization, title="Ours", body="label joints")
    response = client_for(world["project_manager"]).patch(
        f"/api/v1/projects/{world.project.pk}/", {"instructions": own.pk}, format="json")
    assert response.status_code == 200 and response.json()["instructions"] == own.pk


def _post_coco(client, project, data, **params):
    upload = io.BytesIO(json.dumps(data).encode())
    upload.name = "coco.json"
    return client.post(f"/api/v1/projects/{project.pk}/import-coco/", {"file": upload, **params}, format="multipart")


@pytest.mark.parametrize("image_root", ["./projects", "projects/", ".//projects/9", ".", "./"])
def test_finding_2_image_root_cannot_reach_the_reserved_upload_folders(settings, image_root, tmp_path):
    world = make_world(images=0)
    victim = make_project()
    stored = tmp_path / "media" / "projects" / str(victim.pk)
    stored.mkdir(parents=True)
    (stored / "secret.jpg").write_bytes(b"jpeg")
    coco = {
        "images": [{"id": 1, "file_name": f"{victim.pk}/secret.jpg", "width": 640, "height": 480}],
        "annotations": [],
        "categories": [{"id": 1, "name": "person", "keypoints": [f"kp{i}" for i in range(17)], "skeleton": []}],
    }
    response = _post_coco(client_for(world["project_manager"]), world.project, coco,
                          create_missing_images="1", image_root=image_root)
    assert response.status_code == 400, response.json()
    assert "image_root" in json.dumps(response.json()["errors"])
    assert not Image.objects.filter(project=world.project).exists()


def test_finding_3_the_vendor_side_cannot_list_gold_images():
    world = make_world(images=3)
    gold = world.images[0]
    Image.objects.filter(pk=gold.pk).update(is_gold=True)
    # A vendor manager may turn a working annotator into a QA lead: that must not show gold either.
    grant(world["annotator_a"], Role.QA_LEAD, vendor=world.vendor_a)
    for role in ("vendor_qa_lead_a", "annotator_a"):
        client = client_for(world[role])
        listed = client.get(f"/api/v1/projects/{world.project.pk}/images/").json()["results"]
        assert gold.pk not in [row["id"] for row in listed] and len(listed) == 2
        assert client.get(f"/api/v1/projects/{world.project.pk}/images/?is_gold=true").json()["results"] == []
    owner = client_for(world["org_qa_lead"]).get(f"/api/v1/projects/{world.project.pk}/images/?is_gold=true")
    assert [row["id"] for row in owner.json()["results"]] == [gold.pk]


def _scored_world():
    """Annotators x (vendor A) and y (vendor B) worked one image; a QA lead of B reads the results."""
    world = make_world(images=1)
    image = world.images[0]
    from annotation.models import Assignment

    for name, vendor in (("annotator_a", world.vendor_a), ("annotator_b", world.vendor_b)):
        Assignment.objects.create(image=image, project=world.project, annotator=world[name], vendor=vendor,
                                  state="submitted", leased_at="2026-01-01T00:00Z",
                                  lease_expires_at="2026-01-01T00:30Z")
    a, b = world["annotator_a"].pk, world["annotator_b"].pk
    ConsensusResult.objects.create(
        image=image, project=world.project, agreement=0.8, n_annotators=2, decision="needs_review",
        annotator_scores={"per_annotator": {str(a): {"oks": 0.7}, str(b): {"oks": 0.9}},
                          "pairwise": {f"{min(a, b)}-{max(a, b)}": 0.8}},
        flags=[{"code": "left_right_swap", "annotator": a}, {"code": "left_right_swap", "annotator": b}],
    )
    ProjectAgreement.objects.create(project=world.project, n_images=1, report={
        "agreement": 0.8,
        "annotators": {"source": [a, b], "oks": [0.7, 0.9]},
        "biases": [{"source": 0, "keypoint": 1, "dx": 1.0}, {"source": 1, "keypoint": 2, "dx": -1.0}],
    })
    qa_b = make_user()
    grant(qa_b, Role.QA_LEAD, vendor=world.vendor_b)
    return world, image, qa_b, a, b


def test_finding_4_a_vendors_qa_lead_reads_only_its_own_peoples_scores():
    world, image, qa_b, a, b = _scored_world()
    client = client_for(qa_b)
    consensus = client.get(f"/api/v1/images/{image.pk}/consensus/").json()
    assert list(consensus["annotators"]) == [str(b)]
    assert consensus["pairwise_oks"] == {} and [f["annotator"] for f in consensus["flags"]] == [b]
    report = client.get(f"/api/v1/projects/{world.project.pk}/agreement/").json()
    assert report["annotators"] == {"source": [b], "oks": [0.9]}
    assert report["biases"] == [{"source": 0, "keypoint": 2, "dx": -1.0}]
    owner = client_for(world["org_qa_lead"]).get(f"/api/v1/images/{image.pk}/consensus/").json()
    assert sorted(owner["annotators"]) == sorted([str(a), str(b)])


def test_finding_4_granting_cannot_enumerate_vendors():
    world = make_world(images=0)
    stranger = Vendor.objects.create(name="works for someone else")
    pm = client_for(world["project_manager"])
    url = f"/api/v1/projects/{world.project.pk}/"
    existing = pm.patch(url, {"vendors": [stranger.pk]}, format="json")
    missing = pm.patch(url, {"vendors": [999999]}, format="json")
    assert existing.status_code == missing.status_code == 400
    assert existing.json()["detail"].replace(str(stranger.pk), "N") == missing.json()["detail"].replace("999999", "N")
    assert set(world.project.vendors.all()) == {world.vendor_a, world.vendor_b}


def test_finding_5_a_form_encoded_empty_patch_deactivates_nobody():
    world = make_world(images=1)
    membership = Membership.objects.get(user=world["annotator_a2"], vendor=world.vendor_a)
    client = client_for(world["vendor_manager_a"])
    url = f"/api/v1/vendors/{world.vendor_a.pk}/members/{membership.pk}/"
    empty_form = client.patch(url, "", content_type="application/x-www-form-urlencoded")
    assert empty_form.status_code == 400 and empty_form.json()["errors"]["is_active"], empty_form.content
    form = client.patch(url, "is_active=", content_type="application/x-www-form-urlencoded")
    assert form.status_code == 415 and "Unsupported media type" in form.json()["detail"]
    membership.refresh_from_db()
    assert membership.is_active and ProjectAnnotator.objects.filter(user=world["annotator_a2"]).exists()
    assert client.patch(url, {}, format="json").status_code == 400


def test_finding_4_a_vendor_manager_cannot_learn_whether_a_username_exists():
    """Creating a member answers the same for a name held in another vendor or organization as
    for a name nobody holds: the account is made in the vendor's own namespace either way."""
    world = make_world(images=0)
    client = client_for(world["vendor_manager_a"])
    url = f"/api/v1/vendors/{world.vendor_a.pk}/members/"
    answers = {}
    for name in (world["annotator_b"].username, world["project_manager"].username, "nobody-has-this-name"):
        # `username` too, as clients written before handles send it: it names nothing.
        response = client.post(url, {"handle": name, "username": name}, format="json")
        body = response.json()
        answers[name] = (response.status_code, tuple(sorted(body)), body.get("role"), body.get("is_active"),
                         body.get("user", {}).get("username", "").replace(name, "NAME"))
    assert len(set(answers.values())) == 1, answers
    assert not Membership.objects.filter(user__username__in=list(answers), vendor=world.vendor_a).exists()
    assert next(iter(answers.values()))[0] == 201
    # The only names a create can meet are the vendor's own people's.
    again = client.post(url, {"handle": "nobody-has-this-name"}, format="json")
    assert again.status_code == 201 and again.json()["user"]["username"] == answers["nobody-has-this-name"][4].replace(
        "NAME", "nobody-has-this-name")
    assert Membership.objects.filter(vendor=world.vendor_a, user__username__endswith=".nobody-has-this-name").count() == 1


def test_finding_4_creating_or_renaming_a_vendor_does_not_tell_which_vendor_names_exist_elsewhere():
    world = make_world(images=0)
    elsewhere = Organization.objects.create(name=unique("org"))
    Vendor.objects.create(name="Acme Labeling").organizations.add(elsewhere)
    pm = client_for(world["project_manager"])
    answers = [pm.post("/api/v1/vendors/", {"name": name, "organization": world.organization.pk}, format="json")
               for name in ("Acme Labeling", "A name nobody has")]
    assert [a.status_code for a in answers] == [201, 201]
    # Names stay unique among one organization's vendors, where a clash would confuse its people.
    again = pm.post("/api/v1/vendors/", {"name": "acme labeling", "organization": world.organization.pk},
                    format="json")
    assert again.status_code == 400 and "taken" in again.json()["errors"]["name"][0]
    renamed = client_for(world["vendor_manager_a"]).patch(f"/api/v1/vendors/{world.vendor_a.pk}/",
                                                          {"name": "ACME LABELING"}, format="json")
    assert renamed.status_code == 400  # Acme Labeling now works for this organization too
    elsewhere_name = Vendor.objects.create(name="Beta Pose")
    elsewhere_name.organizations.add(elsewhere)
    renamed = client_for(world["vendor_manager_a"]).patch(f"/api/v1/vendors/{world.vendor_a.pk}/",
                                                          {"name": "Beta Pose"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "Beta Pose"
