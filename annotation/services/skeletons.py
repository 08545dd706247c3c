"""Create, validate, version and convert skeletons.

A skeleton definition is the plain-data form used by the API, admin import
and presets::

    {"name": "person", "description": "", "supercategory": "person",
     "keypoints": [{"name": "nose", "sigma": 0.026, "color": "#ff0000", "flip_partner": ""}, ...],
     "edges": [["nose", "left_eye"], ...]}

Once any annotation uses a skeleton it is frozen: `update_skeleton` then
writes a new version and leaves the old one (and what its annotations mean)
untouched.
"""

from __future__ import annotations

import math
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from ..models import Keypoint, Skeleton, SkeletonEdge
from ..presets import sigmas_for_names

DEFAULT_SIGMA = 0.05
#: COCO's sigmas run 0.025..0.107; a sigma past this is a unit mistake, not a keypoint.
MAX_SIGMA = 10.0
DEFAULT_COLORS = {None: "#1f77b4", "left": "#d62728", "right": "#2ca02c"}  # by side; None is the centre
#: The name prefixes (case-insensitive) that put a keypoint on a side; the n-th left prefix
#: mirrors the n-th right one. The one copy of the rule: default colours, the flip-partner
#: guess and the admin preview (server side and, through the page, skeleton_admin.js) read it.
SIDE_PREFIXES = {"left": ("left", "l_"), "right": ("right", "r_")}


def side_from_name(name: str) -> str | None:
    """The side the name says ("left" or "right"), else None."""
    lowered = name.lower()
    for side, prefixes in SIDE_PREFIXES.items():
        if lowered.startswith(prefixes):
            return side
    return None


def _side_patterns() -> list[tuple[re.Pattern, str]]:
    """(pattern capturing the rest of a sided name, the mirrored prefix), from SIDE_PREFIXES.
    A prefix ending in "_" needs it; a word prefix takes an optional separator."""
    patterns = []
    for side, other in (("left", "right"), ("right", "left")):
        for prefix, mirrored in zip(SIDE_PREFIXES[side], SIDE_PREFIXES[other]):
            if prefix.endswith("_"):
                patterns.append((re.compile(rf"^{re.escape(prefix[:-1])}_(.+)$", re.I), mirrored[:-1]))
            else:
                patterns.append((re.compile(rf"^{re.escape(prefix)}[_\s-]?(.+)$", re.I), mirrored))
    return sorted(patterns, key=lambda p: -len(p[1]))  # word prefixes before their one-letter forms


_SIDE_PATTERNS = _side_patterns()


def validate_definition(definition: dict[str, Any]) -> None:
    """Raise ValidationError naming every problem of a skeleton definition."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if not str(definition.get("name") or "").strip():
        add("name", "A skeleton needs a name.")
    keypoints = definition.get("keypoints") or []
    if not isinstance(keypoints, list) or not keypoints:
        add("keypoints", "A skeleton needs at least one keypoint.")
        keypoints = []
    if len(keypoints) > settings.SKELETON_MAX_KEYPOINTS:
        # Refused before anything else is looked at: every instance carries K keypoints.
        raise ValidationError({"keypoints": [
            f"{len(keypoints)} keypoints, over the limit of {settings.SKELETON_MAX_KEYPOINTS} per skeleton "
            "(SKELETON_MAX_KEYPOINTS)."
        ]})
    names: list[str] = []
    for i, kp in enumerate(keypoints):
        if not isinstance(kp, dict):
            add("keypoints", f"Keypoint {i} must be an object with name and sigma.")
            continue
        name = str(kp.get("name") or "").strip()
        if not name:
            add("keypoints", f"Keypoint {i} has no name.")
        elif name in names:
            add("keypoints", f"Keypoint name '{name}' is used twice (positions {names.index(name)} and {i}).")
        names.append(name)
        sigma = kp.get("sigma")
        try:
            if isinstance(sigma, bool):
                raise TypeError
            sigma_value = float(sigma)
        except (TypeError, ValueError, OverflowError):
            add("keypoints", f"Keypoint '{name or i}': sigma must be a number, got {str(sigma)[:40]}.")
            continue
        if not math.isfinite(sigma_value) or sigma_value <= 0:
            add("keypoints", f"Keypoint '{name or i}': sigma must be greater than 0, got {sigma_value:g}.")
        elif sigma_value > MAX_SIGMA:
            add("keypoints", f"Keypoint '{name or i}': sigma must be at most {MAX_SIGMA}, got {sigma_value:g}.")
        layout = kp.get("layout")
        if layout is not None and not _is_unit_point(layout):
            add("keypoints", f"Keypoint '{name or i}': layout must be [x, y] with both between 0 and 1, got {layout!r}.")
    known = set(names)
    partners = {
        str(kp.get("name") or "").strip(): str(kp.get("flip_partner") or "").strip()
        for kp in keypoints if isinstance(kp, dict)
    }
    for name, partner in partners.items():
        if not partner:
            continue
        if partner == name:
            add("keypoints", f"Keypoint '{name}' cannot be its own flip partner.")
        elif partner not in known:
            add("keypoints", f"Keypoint '{name}': flip partner '{partner}' is not a keypoint of this skeleton.")
        elif partners.get(partner) != name:
            add(
                "keypoints",
                f"Flip pairs must be symmetric: '{name}' names '{partner}' as partner, "
                f"but '{partner}' names '{partners.get(partner) or 'nobody'}'.",
            )
    seen_edges: set[frozenset[str]] = set()
    for i, edge in enumerate(definition.get("edges") or []):
        if not isinstance(edge, (list, tuple)) or len(edge) != 2:
            add("edges", f"Edge {i} must be a pair of keypoint names, got {edge!r}.")
            continue
        a, b = (str(x).strip() for x in edge)
        missing = [x for x in (a, b) if x not in known]
        if missing:
            add("edges", f"Edge {a}-{b} refers to unknown keypoint(s): {', '.join(missing)}.")
            continue
        if a == b:
            add("edges", f"Edge {a}-{b} joins a keypoint to itself.")
            continue
        key = frozenset((a, b))
        if key in seen_edges:
            add("edges", f"Edge {a}-{b} is listed twice.")
        seen_edges.add(key)
    if errors:
        raise ValidationError(errors)


def _is_unit_point(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple)) and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in value)
    )


def _keypoint_definition(kp: Keypoint) -> dict[str, Any]:
    """A keypoint as plain data; `layout` (the preview position) only when it has one."""
    data = {"name": kp.name, "sigma": kp.sigma, "color": kp.color, "flip_partner": kp.flip_partner}
    if kp.layout_x is not None and kp.layout_y is not None:
        data["layout"] = [kp.layout_x, kp.layout_y]
    return data


def definition_of(skeleton: Skeleton) -> dict[str, Any]:
    return {
        "name": skeleton.name,
        "description": skeleton.description,
        "supercategory": skeleton.supercategory,
        "keypoints": [_keypoint_definition(kp) for kp in skeleton.keypoints.all()],
        "edges": [[e.source, e.target] for e in skeleton.edges.all()],
    }


def _write_parts(skeleton: Skeleton, definition: dict[str, Any]) -> None:
    Keypoint.objects.bulk_create(
        Keypoint(
            skeleton=skeleton, order=i, name=str(kp["name"]).strip(), sigma=float(kp["sigma"]),
            color=kp.get("color") or default_color(str(kp["name"])),
            flip_partner=str(kp.get("flip_partner") or "").strip(),
            layout_x=kp["layout"][0] if kp.get("layout") else None,
            layout_y=kp["layout"][1] if kp.get("layout") else None,
        )
        for i, kp in enumerate(definition["keypoints"])
    )
    SkeletonEdge.objects.bulk_create(
        SkeletonEdge(skeleton=skeleton, source=str(a).strip(), target=str(b).strip())
        for a, b in definition.get("edges") or []
    )


def default_color(name: str) -> str:
    return DEFAULT_COLORS[side_from_name(name)]


@transaction.atomic
def create_skeleton(definition: dict[str, Any], *, previous: Skeleton | None = None) -> Skeleton:
    validate_definition(definition)
    name = str(definition["name"]).strip()
    latest = Skeleton.objects.filter(name=name).aggregate(v=Max("version"))["v"] or 0
    skeleton = Skeleton.objects.create(
        name=name, version=latest + 1, description=definition.get("description", ""),
        supercategory=definition.get("supercategory", "") or "", previous=previous,
    )
    _write_parts(skeleton, definition)
    return skeleton


@transaction.atomic
def update_skeleton(skeleton: Skeleton, definition: dict[str, Any]) -> Skeleton:
    """Apply an edit; returns the skeleton that now holds it.

    A frozen skeleton whose *meaning* changes (keypoints, their order, sigmas,
    edges, flip pairs) gets a new version. Presentation (colours, preview
    layout, description) changes nothing about existing annotations, so it
    is edited in place even when frozen.
    """
    validate_definition(definition)
    locked = Skeleton.objects.select_for_update().get(pk=skeleton.pk)
    if locked.is_frozen and not same_definition(definition, definition_of(locked), meaning_only=True):
        return create_skeleton({**definition, "name": locked.name}, previous=locked)
    locked.description = definition.get("description", locked.description)
    locked.supercategory = definition.get("supercategory", locked.supercategory) or ""
    locked.save()
    locked.keypoints.all().delete()
    locked.edges.all().delete()
    _write_parts(locked, definition)
    return locked


def same_definition(a: dict[str, Any], b: dict[str, Any], *, meaning_only: bool = False) -> bool:
    """Whether two skeleton definitions say the same: the one place that compares them.

    meaning_only compares what annotations and their scores depend on (names in
    order, sigmas, edges, flip pairs), which decides whether an edit of a frozen
    skeleton needs a new version. Otherwise every stored part counts too
    (description, supercategory, colours case-insensitively, layout, edge order),
    which decides whether an edit or a preset changes anything at all.
    """
    return _comparable(a, meaning_only) == _comparable(b, meaning_only)


def _comparable(definition: dict[str, Any], meaning_only: bool) -> tuple:
    keypoints = definition["keypoints"]
    meaning = (
        tuple(str(kp["name"]).strip() for kp in keypoints),
        tuple(float(kp["sigma"]) for kp in keypoints),
        frozenset(frozenset(str(x).strip() for x in edge) for edge in definition.get("edges") or []),
        frozenset((str(kp["name"]).strip(), str(kp.get("flip_partner") or "").strip()) for kp in keypoints),
    )
    if meaning_only:
        return meaning
    presentation = (
        str(definition.get("description") or ""), str(definition.get("supercategory") or ""),
        tuple((str(kp.get("color") or "").lower(), tuple(kp["layout"]) if kp.get("layout") else None)
              for kp in keypoints),
        tuple(tuple(str(x).strip() for x in edge) for edge in definition.get("edges") or []),
    )
    return meaning + presentation


# --- COCO category form -----------------------------------------------------

def to_coco_category(skeleton: Skeleton) -> dict[str, Any]:
    """The COCO category of a skeleton: 1-based `skeleton` pairs, as COCO writes them.

    Sigmas, flip pairs (1-based, like `skeleton`) and colours ride along as
    extra keys, which COCO readers ignore and our import reads back.
    """
    spec = skeleton.spec()
    category = {
        "id": skeleton.pk,
        "name": skeleton.name,
        "supercategory": skeleton.supercategory,
        "keypoints": list(spec.names),
        "skeleton": [[a + 1, b + 1] for a, b in spec.edges],
        "sigmas": list(spec.sigmas),
        "flip_pairs": [[a + 1, b + 1] for a, b in spec.flip_pairs],
        "colors": list(spec.colors),
    }
    layout = [_keypoint_definition(kp).get("layout") for kp in skeleton.keypoints.all()]
    if any(layout):
        category["layout"] = layout  # preview positions, null where a keypoint has none
    return category


def infer_flip_partners(names: list[str]) -> dict[str, str]:
    """Pair left_x with right_x (and l_x with r_x) when a category carries no flip pairs."""
    known = set(names)
    partners = {}
    for name in names:
        for pattern, other_side in _SIDE_PATTERNS:
            match = pattern.match(name)
            if not match:
                continue
            sep = name[len(name) - len(match.group(1)) - 1]
            sep = sep if not sep.isalpha() else ""
            prefix = name[: len(name) - len(match.group(1)) - len(sep)]
            candidate_prefix = other_side if prefix.islower() else other_side.capitalize()
            if prefix.isupper():
                candidate_prefix = other_side.upper()
            candidate = f"{candidate_prefix}{sep}{match.group(1)}"
            if candidate in known:
                partners[name] = candidate
            break
    return {a: b for a, b in partners.items() if partners.get(b) == a}


def definition_from_coco_category(category: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Read a COCO category with keypoints; returns the definition and warnings.

    Raises ValidationError naming the field when the category is malformed.
    """
    if not isinstance(category, dict):
        raise ValidationError({"category": "Expected a JSON object (a COCO category)."})
    names = category.get("keypoints")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ValidationError({"keypoints": "A COCO keypoint category needs a non-empty list of keypoint names."})
    k = len(names)
    warnings: list[str] = []

    def pairs(field: str) -> list[tuple[int, int]]:
        value = category.get(field) or []
        if not isinstance(value, list):
            raise ValidationError({field: "Expected a list of [a, b] pairs of 1-based keypoint indices."})
        result = []
        for pair in value:
            if (
                not isinstance(pair, (list, tuple)) or len(pair) != 2
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in pair)
            ):
                raise ValidationError({field: f"Pair {pair!r} is not two integer keypoint indices."})
            if not all(1 <= i <= k for i in pair):
                raise ValidationError(
                    {field: f"Pair {pair} refers to a keypoint outside 1..{k} (COCO indices are 1-based)."}
                )
            result.append((pair[0] - 1, pair[1] - 1))
        return result

    edges = pairs("skeleton")
    sigmas = category.get("sigmas")
    if sigmas is None:
        sigmas = sigmas_for_names(names)
        if sigmas is None:
            sigmas = [DEFAULT_SIGMA] * k
            warnings.append(
                f"The category carries no sigmas; every keypoint got {DEFAULT_SIGMA}. "
                "Estimate them from redundant annotations once the project has some."
            )
        else:
            warnings.append("The category carries no sigmas; took them from the preset with the same keypoints.")
    if not isinstance(sigmas, list) or len(sigmas) != k:
        raise ValidationError({"sigmas": f"Expected {k} sigmas, one per keypoint."})
    if "flip_pairs" in category:
        partners = {}
        for a, b in pairs("flip_pairs"):
            partners[names[a]], partners[names[b]] = names[b], names[a]
    else:
        partners = infer_flip_partners(names)
    colors = category.get("colors")
    if colors is not None and (not isinstance(colors, list) or len(colors) != k):
        raise ValidationError({"colors": f"Expected {k} colours, one per keypoint."})
    layout = category.get("layout")
    if layout is not None and (not isinstance(layout, list) or len(layout) != k):
        raise ValidationError({"layout": f"Expected {k} [x, y] positions (or null), one per keypoint."})
    definition = {
        "name": str(category.get("name") or "").strip(),
        "supercategory": str(category.get("supercategory") or ""),
        "description": str(category.get("description") or ""),
        "keypoints": [
            {
                "name": name, "sigma": sigma,
                "color": colors[i] if colors else default_color(name),
                "flip_partner": partners.get(name, ""),
                **({"layout": layout[i]} if layout and layout[i] is not None else {}),
            }
            for i, (name, sigma) in enumerate(zip(names, sigmas))
        ],
        "edges": [[names[a], names[b]] for a, b in edges],
    }
    return definition, warnings


def import_coco_category(category: dict[str, Any]) -> tuple[Skeleton, list[str]]:
    definition, warnings = definition_from_coco_category(category)
    return create_skeleton(definition), warnings
