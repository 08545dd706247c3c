"""Simulated annotators and a simulated QA lead: how each turns the truth into labels.

The noise is review/agreement/simulate.py's model (COCO's definition of
sigma): keypoint k of an object of scale s = sqrt(area) lands off by an
isotropic Gaussian with per-axis standard deviation noise * sigma_k * s /
sqrt(2). On top of it each behaviour adds the one habit it is named for.
Every draw is seeded by (person, image, attempt), so a second run of the
demo makes the very same labels (and the engine's idempotent submit
recognizes them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from review.agreement.simulate import keypoint_noise

HIPS = (11, 12)
FLIP_PAIRS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))


@dataclass(frozen=True)
class Behaviour:
    """One simulated annotator: a username, what they do, and the numbers that make them do it."""

    username: str
    label: str  # shown in the report
    noise: float = 0.7
    hip_shift: float = 0.0  # hips placed this many sigma*s above the truth
    swap_rate: float = 0.0  # share of instances with left and right exchanged
    swaps_when_tested: bool = True  # False: takes care on qualification images, swaps only in production
    skip_occluded: bool = False  # leaves occluded (v=1) joints unlabeled
    outlier_rate: float = 0.0  # share of keypoints clicked somewhere near, but wrong
    miss_rate: float = 0.0  # share of people not labeled at all


CAST = (
    Behaviour("ann_careful", "careful", noise=0.45),
    Behaviour("ann_steady", "careful (a second one)", noise=0.6),
    Behaviour("ann_average", "average", noise=0.9),
    Behaviour("ann_fast", "fast and sloppy", noise=1.8, outlier_rate=0.05, miss_rate=0.05),
    Behaviour("ann_hips", "places the hips too high", noise=0.6, hip_shift=3.0),
    # Careful while qualifying, as many are: the swaps are for production's checks to catch (with swaps on
    # the three qualification images too, a third of demo runs failed them and showed no swapper at all).
    Behaviour("ann_swapper", "sometimes swaps left and right", noise=0.6, swap_rate=0.3,
              swaps_when_tested=False),
    Behaviour("ann_occluded", "skips occluded joints", noise=0.6, skip_occluded=True),
    Behaviour("ann_unqualified", "fails qualification", noise=7.0, outlier_rate=0.3),
)


def _rng(*parts: int) -> np.random.Generator:
    return np.random.default_rng([abs(int(p)) for p in parts])


def labels_for(behaviour: Behaviour, truth: list[dict], sigmas: np.ndarray, width: int, height: int,
               *, seed: tuple[int, ...], tested: bool = False) -> list[dict]:
    """The instances this person submits for an image whose true instances are `truth`
    (`tested`: a qualification image)."""
    rng = _rng(*seed)
    out = []
    for inst in truth:
        if rng.random() < behaviour.miss_rate:
            continue
        kp = np.asarray(inst["keypoints"], dtype=np.float64).reshape(-1, 3)
        xy, v = kp[:, :2].copy(), kp[:, 2].astype(int)
        area = inst["bbox"][2] * inst["bbox"][3]
        scale = np.sqrt(area)
        xy += keypoint_noise(rng, area, sigmas, behaviour.noise)
        if behaviour.hip_shift:
            xy[list(HIPS), 1] -= behaviour.hip_shift * sigmas[list(HIPS)] * scale
        gross = rng.random(len(v)) < behaviour.outlier_rate
        xy[gross] += rng.uniform(-0.15, 0.15, (int(gross.sum()), 2)) * scale
        swaps = behaviour.swaps_when_tested or not tested
        if rng.random() < behaviour.swap_rate and swaps:
            for a, b in FLIP_PAIRS:
                xy[[a, b]], v[[a, b]] = xy[[b, a]], v[[b, a]]
        if behaviour.skip_occluded:
            v = np.where(v == 1, 0, v)
        xy = np.clip(xy, 0, [width - 1, height - 1])
        keypoints = []
        for (x, y), vis in zip(np.round(xy, 2).tolist(), v.tolist()):
            keypoints += [x, y, vis] if vis else [0.0, 0.0, 0]
        out.append({"bbox": list(inst["bbox"]), "keypoints": keypoints})
    return out


#: The simulated QA lead: precise, and decides the disputed images with the lowest agreement first.
QA_LEAD = Behaviour("qa_lead", "QA lead", noise=0.25)
