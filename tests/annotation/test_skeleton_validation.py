import copy

import pytest
from django.core.exceptions import ValidationError

from annotation.services.skeletons import validate_definition

from .projects_fixtures import ARM


def definition(**overrides):
    base = copy.deepcopy(ARM)
    base.update(overrides)
    return base


def messages(exc: ValidationError) -> str:
    return " | ".join(m for ms in exc.message_dict.values() for m in ms)


def test_valid_definition_passes():
    validate_definition(definition())


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"name": " "}, "needs a name"),
        ({"keypoints": []}, "at least one keypoint"),
        ({"keypoints": [{"name": "a", "sigma": 0.1}, {"name": "a", "sigma": 0.1}]}, "'a' is used twice"),
        ({"keypoints": [{"name": "a", "sigma": 0}]}, "sigma must be greater than 0"),
        ({"keypoints": [{"name": "a", "sigma": -0.2}]}, "sigma must be greater than 0"),
        ({"keypoints": [{"name": "a", "sigma": "wide"}]}, "sigma must be a number"),
        ({"keypoints": [{"name": "a", "sigma": float("nan")}]}, "sigma must be greater than 0"),
        ({"keypoints": [{"name": "", "sigma": 0.1}]}, "has no name"),
        ({"edges": [["neck", "elbow"]]}, "unknown keypoint(s): elbow"),
        ({"edges": [["neck", "neck"]]}, "joins a keypoint to itself"),
        ({"edges": [["neck", "left_shoulder"], ["left_shoulder", "neck"]]}, "is listed twice"),
        ({"edges": [["neck"]]}, "must be a pair"),
        (
            {"keypoints": [{"name": "a", "sigma": 0.1, "flip_partner": "a"}]},
            "cannot be its own flip partner",
        ),
        (
            {"keypoints": [{"name": "a", "sigma": 0.1, "flip_partner": "b"}, {"name": "b", "sigma": 0.1}]},
            "must be symmetric",
        ),
        (
            {"keypoints": [{"name": "a", "sigma": 0.1, "flip_partner": "zz"}]},
            "flip partner 'zz' is not a keypoint",
        ),
    ],
)
def test_bad_definitions_are_rejected_with_a_named_problem(overrides, expected):
    with pytest.raises(ValidationError) as info:
        validate_definition(definition(**overrides))
    assert expected in messages(info.value)
