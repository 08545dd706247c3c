"""What the review endpoints say about one image or project, beyond the stored rows.

`with_members`: which annotator instance joined which consensus object.
`with_messages`: each stored flag with the sentence that explains its code.

Per-annotator figures are cut down to the annotators the caller may know about.

A project granted to several vendors is scored as a whole; each vendor's QA
lead reads the figures of their own people only (access.visible_annotator_ids).
The aggregates (agreement, histogram, per keypoint) stay whole: they name nobody.
"""

from __future__ import annotations

import numpy as np

from .agreement import FLAG_CODES, agreement_oks, match_instances

#: What each flag code means, for people. Scoring stores the code only: the same sentence repeated
#: on hundreds of thousands of flags was a large share of what a project rescore wrote.
FLAG_MESSAGES = {
    **FLAG_CODES,
    "too_many_instances": "More instances than the project's max_instances_per_image; scored on the first ones.",
}


def _keep(annotator_id, visible: set[int]) -> bool:
    try:
        return int(annotator_id) in visible
    except (TypeError, ValueError):
        return False


def with_messages(flags: list[dict]) -> list[dict]:
    """The stored flags, each with its `message`."""
    return [{**flag, "message": FLAG_MESSAGES.get(flag.get("code"), "")} for flag in flags]


def consensus_annotators(per_annotator: dict, pairwise: dict, flags: list, visible: set[int] | None):
    """(per_annotator, pairwise, flags) of one image, limited to `visible` (None keeps all)."""
    if visible is None:
        return per_annotator, pairwise, flags
    return (
        {key: value for key, value in per_annotator.items() if _keep(key, visible)},
        {key: value for key, value in pairwise.items()
         if all(_keep(part, visible) for part in str(key).split("-"))},
        [flag for flag in flags if _keep(flag.get("annotator"), visible)],
    )


def agreement_report(report: dict, visible: set[int] | None) -> dict:
    """A project report whose `annotators` columns and `biases` keep only `visible` annotators."""
    if visible is None:
        return report
    table = report.get("annotators") or {}
    sources = list(table.get("source") or [])
    keep = [i for i, source in enumerate(sources) if _keep(source, visible)]
    annotators = {
        name: [column[i] for i in keep] if isinstance(column, list) and len(column) == len(sources) else column
        for name, column in table.items()
    }
    # A bias names its annotator by position in the table.
    biases = [
        bias for bias in report.get("biases") or []
        if isinstance(bias.get("source"), int) and bias["source"] < len(sources)
        and _keep(sources[bias["source"]], visible)
    ]
    position = {old: new for new, old in enumerate(keep)}
    biases = [{**bias, "source": position[bias["source"]]} for bias in biases]
    return {**report, "annotators": annotators, "biases": biases}


def _keypoint_arrays(instances: list[dict], k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xy (N, K, 2), v (N, K), area (N,)) of stored instances; area from the box when not stored."""
    kp = np.asarray([inst["keypoints"] for inst in instances], dtype=np.float64).reshape(len(instances), k, 3)
    area = [inst.get("area") or (inst["bbox"][2] * inst["bbox"][3] if inst.get("bbox") else 0.0) for inst in instances]
    return kp[..., :2], kp[..., 2], np.asarray(area, dtype=np.float64)


def consensus_members(annotators: list[tuple[int, list[dict]]], consensus: list[dict], spec) -> list[list[dict]]:
    """Per consensus instance, in order: the annotator instances that belong to it,
    as [{annotator (user id), instance (index in their labels), flipped}].

    Each annotator's instances are matched to the consensus the way the agreement
    engine matches two annotators (`agreement_oks`, one-to-one, OKS >= 0.5), and
    left/right-tolerant as its clustering is: an instance drawn mirrored belongs to
    its object with flipped=True (its left keypoints are the object's right ones).
    """
    out: list[list[dict]] = [[] for _ in consensus]
    k = spec.num_keypoints
    if not consensus:
        return out
    flip = np.arange(k)
    for a, b in spec.flip_pairs:
        flip[a], flip[b] = b, a
    c_xy, c_v, c_area = _keypoint_arrays(consensus, k)
    sigmas = np.asarray(spec.sigmas, dtype=np.float64)
    for annotator, instances in annotators:
        if not instances:
            continue
        xy, v, area = _keypoint_arrays(instances, k)

        def similarity(xy, v):  # (instances, consensus objects)
            return agreement_oks(xy[:, None], v[:, None], area[:, None], c_xy[None], c_v[None], c_area[None],
                                 sigmas)[0]

        drawn, mirrored = similarity(xy, v), similarity(xy[:, flip], v[:, flip])
        flipped = np.nan_to_num(mirrored, nan=-1.0) > np.nan_to_num(drawn, nan=-1.0)
        match = match_instances(np.where(flipped, mirrored, drawn))
        for row, col in zip(match.rows.tolist(), match.cols.tolist()):
            out[col].append({"annotator": annotator, "instance": row, "flipped": bool(flipped[row, col])})
    return out


def with_members(objects: list[dict], members: list[list[dict]], visible: set[int] | None = None) -> list[dict]:
    """The stored consensus objects with their `members`; the accepted ones, in order, are the consensus
    instances `members` lists (a rejected object has no consensus instance and no members). Members
    outside `visible` (None keeps all) are left out, as everywhere else."""
    accepted = iter(members)
    return [
        {**o, "members": [m for m in next(accepted, []) if visible is None or _keep(m["annotator"], visible)]
         if o.get("accepted") else []}
        for o in objects
    ]
