"""Skeleton geometry the kernels need: per-keypoint sigmas, flip pairs, edges.

The kernels take a `Skeleton` rather than loose arrays so that the three
always travel together and are validated once. Anything with ``sigmas``,
``flip_pairs`` and ``edges`` attributes (e.g. the Django side's
``SkeletonSpec``) converts with `Skeleton.coerce`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Skeleton", "COCO_PERSON", "COCO_SIGMAS", "COCO_KEYPOINT_NAMES", "as_sigmas"]

COCO_KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)

#: COCO person sigmas (pycocotools ``Params.kpt_oks_sigmas``), shape (17,).
COCO_SIGMAS = np.array(
    [.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]
) / 10.0


def as_sigmas(sigmas, k: int) -> np.ndarray:
    """Sigmas as a (K,) float64 vector, checked against the number of keypoints."""
    s = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if s.size != k:
        raise ValueError(f"need {k} sigmas, got {s.size}")
    return s


def _index_pairs(pairs, k: int, what: str) -> np.ndarray:
    arr = np.asarray(pairs if pairs is not None else [], dtype=np.int64).reshape(-1, 2)
    if arr.size and (arr.min() < 0 or arr.max() >= k):
        raise ValueError(f"{what} refer to keypoints outside 0..{k - 1}")
    if np.any(arr[:, 0] == arr[:, 1]):
        raise ValueError(f"{what} must join two different keypoints")
    return arr


@dataclass(frozen=True, eq=False)
class Skeleton:
    """Per-keypoint constants of one skeleton, in 0-based index form.

    Attributes
    ----------
    sigmas : ndarray, shape (K,), float64
        OKS sigma of each keypoint: the RMS annotator error of that keypoint
        relative to object scale ``s = sqrt(area)`` (COCO's definition,
        ``sigma_i**2 = E[d_i**2 / s**2]``). OKS uses ``k_i = 2 * sigma_i``.
    flip_pairs : ndarray, shape (F, 2), int64
        Left/right partners (e.g. left hip, right hip); each keypoint in at
        most one pair.
    edges : ndarray, shape (E, 2), int64
        Limbs, used by the limb-length plausibility check.
    names : tuple of str, length K, optional
    """

    sigmas: np.ndarray
    flip_pairs: np.ndarray
    edges: np.ndarray
    names: tuple[str, ...] | None = None

    def __post_init__(self):
        sigmas = np.asarray(self.sigmas, dtype=np.float64).reshape(-1)
        if sigmas.size == 0 or not np.all(np.isfinite(sigmas)) or np.any(sigmas <= 0):
            raise ValueError("sigmas must be a non-empty vector of positive numbers")
        k = sigmas.size
        flips = _index_pairs(self.flip_pairs, k, "flip_pairs")
        if np.unique(flips).size != flips.size:
            raise ValueError("a keypoint can be in at most one flip pair")
        edges = _index_pairs(self.edges, k, "edges")
        if self.names is not None and len(self.names) != k:
            raise ValueError("names must have one entry per sigma")
        for name, value in (("sigmas", sigmas), ("flip_pairs", flips), ("edges", edges)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        if self.names is not None:
            object.__setattr__(self, "names", tuple(str(n) for n in self.names))

    @property
    def num_keypoints(self) -> int:
        return int(self.sigmas.size)

    @property
    def flip_permutation(self) -> np.ndarray:
        """(K,) int64: index of each keypoint's mirror partner (itself if unpaired)."""
        perm = np.arange(self.num_keypoints)
        perm[self.flip_pairs[:, 0]] = self.flip_pairs[:, 1]
        perm[self.flip_pairs[:, 1]] = self.flip_pairs[:, 0]
        return perm

    @classmethod
    def coerce(cls, obj) -> "Skeleton":
        """Accept a `Skeleton`, any object with ``sigmas``/``flip_pairs``/``edges``
        attributes (``names`` optional), or a bare sigma vector (no flips, no edges)."""
        if isinstance(obj, cls):
            return obj
        if hasattr(obj, "sigmas"):
            return cls(
                sigmas=obj.sigmas,
                flip_pairs=getattr(obj, "flip_pairs", ()),
                edges=getattr(obj, "edges", ()),
                names=getattr(obj, "names", None),
            )
        return cls(sigmas=obj, flip_pairs=(), edges=())


#: The COCO 17-keypoint person skeleton (0-based edges and flip pairs).
COCO_PERSON = Skeleton(
    sigmas=COCO_SIGMAS,
    flip_pairs=[(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)],
    edges=np.array(
        [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8],
         [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
    ) - 1,
    names=COCO_KEYPOINT_NAMES,
)
