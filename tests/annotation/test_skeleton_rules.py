"""The skeleton rules that used to be written several times: sides from names, comparing definitions."""

from annotation.admin.skeletons import keypoint_side
from annotation.services.skeletons import (
    default_color, infer_flip_partners, same_definition, side_from_name,
)


def test_the_side_of_a_name_is_one_rule_for_colours_preview_and_flip_guess():
    for name, side in (("left_knee", "left"), ("L_eye", "left"), ("Right Hand", "right"), ("r_ear", "right"),
                       ("nose", None), ("lateral", None)):
        assert side_from_name(name) == side
        assert keypoint_side(name) == (side or "centre")
    assert default_color("left_knee") != default_color("right_knee") != default_color("nose")
    assert keypoint_side("tail_tip", "tail_tip2") == "paired"
    names = ["left_eye", "right_eye", "L_ear", "R_ear", "leftHand", "rightHand", "l_x", "nose"]
    assert infer_flip_partners(names) == {
        "left_eye": "right_eye", "right_eye": "left_eye", "L_ear": "R_ear", "R_ear": "L_ear",
        "leftHand": "rightHand", "rightHand": "leftHand",
    }


def _definition(**changes):
    base = {
        "name": "arm", "description": "", "supercategory": "person",
        "keypoints": [{"name": "a", "sigma": 0.05, "color": "#AABBCC", "flip_partner": ""},
                      {"name": "b", "sigma": 0.1, "color": "#112233", "flip_partner": ""}],
        "edges": [["a", "b"]],
    }
    return {**base, **changes}


def test_same_definition_tells_meaning_from_presentation():
    same = _definition()
    recoloured = _definition(keypoints=[{**same["keypoints"][0], "color": "#000000"}, same["keypoints"][1]])
    lower_case = _definition(keypoints=[{**same["keypoints"][0], "color": "#aabbcc"}, same["keypoints"][1]])
    resigma = _definition(keypoints=[{**same["keypoints"][0], "sigma": 0.06}, same["keypoints"][1]])
    reversed_edge = _definition(edges=[["b", "a"]])
    assert same_definition(same, lower_case)
    assert not same_definition(same, recoloured) and same_definition(same, recoloured, meaning_only=True)
    assert not same_definition(same, resigma, meaning_only=True)
    assert same_definition(same, reversed_edge, meaning_only=True) and not same_definition(same, reversed_edge)
    assert not same_definition(same, _definition(description="new words"))
