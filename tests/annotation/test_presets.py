import json

import pytest
from django.core.management import call_command

from annotation.models import Skeleton
from annotation.presets import PRESET_DIR, preset_categories
from annotation.services.skeletons import (
    definition_from_coco_category, import_coco_category, to_coco_category, validate_definition,
)

PRESET_FILES = sorted(PRESET_DIR.glob("*.json"))
EXPECTED = {
    "coco17_person.json": ("coco-17-person", 17),
    "hand21.json": ("hand-21", 21),
    "ap10k_animal.json": ("ap-10k-animal", 17),
    "face68.json": ("face-68", 68),
}


def without_identity(category):
    return {k: v for k, v in category.items() if k not in {"id", "name"}}


def test_all_four_presets_ship():
    assert {path.name for path in PRESET_FILES} == set(EXPECTED)


@pytest.mark.parametrize("path", PRESET_FILES, ids=lambda p: p.name)
def test_preset_is_valid_and_cites_its_sources(path):
    category = json.loads(path.read_text())
    name, count = EXPECTED[path.name]
    assert category["name"] == name
    assert len(category["keypoints"]) == len(category["sigmas"]) == len(category["layout"]) == count
    assert len(category["sources"]) > 100
    definition, warnings = definition_from_coco_category(category)
    validate_definition(definition)
    assert warnings == []
    assert all(0 < s < 0.2 for s in category["sigmas"])


def test_published_sigmas_are_the_ones_shipped():
    by_name = {c["name"]: c for c in preset_categories()}
    hand = by_name["hand-21"]
    assert hand["keypoints"][:5] == ["wrist", "thumb1", "thumb2", "thumb3", "thumb4"]
    assert hand["sigmas"][0] == 0.029 and hand["sigmas"][4] == 0.047 and hand["sigmas"][20] == 0.031
    animal = by_name["ap-10k-animal"]
    assert dict(zip(animal["keypoints"], animal["sigmas"]))["root_of_tail"] == 0.035
    assert animal["sigmas"][11] == 0.107
    face = by_name["face-68"]
    assert face["sigmas"][8] == 0.020 and face["sigmas"][47] == 0.034


def test_face_flip_pairs_mirror_jaw_eyes_and_mouth():
    face = next(c for c in preset_categories() if c["name"] == "face-68")
    pairs = {tuple(p) for p in face["flip_pairs"]}
    assert {(1, 17), (8, 10), (37, 46), (41, 48), (49, 55), (66, 68)} <= pairs
    flipped = {i for p in pairs for i in p}
    assert {9, 28, 29, 30, 31, 34, 52, 58, 63, 67}.isdisjoint(flipped)  # the centre line (1-based)


@pytest.mark.django_db
@pytest.mark.parametrize("path", PRESET_FILES, ids=lambda p: p.name)
def test_preset_round_trips_through_coco(path):
    category = json.loads(path.read_text())
    first, _ = import_coco_category(category)
    exported = to_coco_category(first)
    # Every key of the file (bar its documentation) comes back out of the export unchanged.
    for key in category.keys() - {"name", "description", "sources"}:
        assert exported[key] == category[key], key
    second, warnings = import_coco_category({**exported, "name": "copy of " + first.name})
    assert warnings == []
    assert without_identity(to_coco_category(second)) == without_identity(exported)
    first.refresh_from_db()
    assert [kp.layout_x for kp in first.keypoints.all()] == [x for x, _ in category["layout"]]


@pytest.mark.django_db
def test_load_skeleton_presets_creates_all_four_then_nothing(capsys):
    call_command("load_skeleton_presets")
    names = set(Skeleton.objects.values_list("name", flat=True))
    assert names == {name for name, _ in EXPECTED.values()}
    counts = {s.name: s.keypoints.count() for s in Skeleton.objects.all()}
    assert counts == {name: count for name, count in EXPECTED.values()}
    assert capsys.readouterr().out.count(": created") == 4

    call_command("load_skeleton_presets")
    assert Skeleton.objects.count() == 4
    assert capsys.readouterr().out.count(": up to date") == 4
