"""`InstanceBatch`: all annotated instances of many images as flat arrays.

A project is scored as a few array operations over one batch rather than a
Python loop per image or per pair: instances of all images and annotators
("sources") are stacked along one axis ``N``, with ``image`` and ``source``
index arrays saying where each belongs. Pairs of instances are then plain
``(P,)`` index arrays into ``N`` (see `instance_pairs`).
"""

from __future__ import annotations

from functools import cached_property
from typing import Iterable, Mapping

import numpy as np

from ._segments import pairs_in_runs, run_lengths

__all__ = ["InstanceBatch", "instance_pairs"]


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only view: the batch cannot be mutated, the caller's array still can."""
    view = a.view()
    view.setflags(write=False)
    return view


class InstanceBatch:
    """Keypoint instances of many images and annotators, COCO conventions.

    Construct with ``InstanceBatch(xy, v, bbox, area, image, source)``, or
    `from_arrays` / `from_coco`. Immutable: arrays are exposed read-only.

    Attributes
    ----------
    xy : ndarray, shape (N, K, 2), float64
        Keypoint coordinates in pixels. COCO stores ``x = y = 0`` for
        unlabeled keypoints; the kernels never read those except where
        pycocotools does (see `compute_oks`).
    x, y : ndarray, shape (N, K), float64, contiguous
        The same coordinates split, as the kernels use them (numpy runs far
        faster over long rows than over a length-2 last axis). This is the
        storage; ``xy`` is assembled on first use.
    v : ndarray, shape (N, K), int8
        COCO visibility: 0 not labeled, 1 labeled but occluded, 2 visible.
    labeled : ndarray, shape (N, K), bool
        ``v > 0``.
    bbox : ndarray, shape (N, 4), float64
        ``[x, y, w, h]``.
    area : ndarray, shape (N,), float64
        Object area ``s**2`` used for OKS scale: the instance's own area when
        it carries one, else ``w * h`` of its box.
    image : ndarray, shape (N,), int64
        Image index in ``[0, n_images)``.
    source : ndarray, shape (N,), int64
        Annotator index in ``[0, n_sources)``.
    ids : ndarray, shape (N,), int64
        Caller's id for each instance (annotation primary key); defaults to
        ``arange(N)``. Kernels return positions; ``ids[pos]`` maps them back.
    n_images, n_sources : int
        Sizes of the image and annotator index spaces (default ``max + 1``).
    image_ids, source_ids : ndarray, shape (n_images,) / (n_sources,), optional
        Caller's ids for image and annotator indices (set by `from_coco`).
    """

    _ARRAYS = ("x", "y", "v", "labeled", "bbox", "area", "image", "source", "ids")

    def __init__(self, xy=None, v=None, bbox=None, area=None, image=None, source=None, *, ids=None,
                 n_images=None, n_sources=None, image_ids=None, source_ids=None, x=None, y=None,
                 validate: bool = True):
        if xy is not None:
            xy = np.asarray(xy, dtype=np.float64)
            if xy.ndim != 3 or xy.shape[2] != 2:
                raise ValueError(f"xy must have shape (N, K, 2), got {xy.shape}")
            x, y = np.ascontiguousarray(xy[..., 0]), np.ascontiguousarray(xy[..., 1])
        elif x is None or y is None:
            raise ValueError("give xy, or x and y")
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        if x.ndim != 2 or y.shape != x.shape:
            raise ValueError(f"x and y must have the same (N, K) shape, got {x.shape}, {y.shape}")
        n, k = x.shape
        v = np.asarray(v)
        if v.shape != (n, k):
            raise ValueError(f"v must have shape {(n, k)}, got {v.shape}")
        bbox = np.asarray(bbox, dtype=np.float64).reshape(n, 4)
        area = np.asarray(area, dtype=np.float64).reshape(n)
        image = np.asarray(image, dtype=np.int64).reshape(n)
        source = np.asarray(source, dtype=np.int64).reshape(n)
        ids = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids, np.int64).reshape(n)
        if validate:
            if v.size and (v.min() < 0 or v.max() > 2):
                raise ValueError("visibility flags must be 0, 1 or 2")
            if n and (image.min() < 0 or source.min() < 0):
                raise ValueError("image and source indices must be >= 0")
            if not (np.isfinite(x).all() and np.isfinite(y).all()):
                bad = ~(np.isfinite(x) & np.isfinite(y))  # NaN is tolerated as "no position" ...
                if np.any(bad & (v > 0)):  # ... on unlabeled points only
                    raise ValueError("labeled keypoints must have finite coordinates")
                x, y = np.where(bad, 0.0, x), np.where(bad, 0.0, y)
        v = v.astype(np.int8, copy=False)
        n_images = int(image.max() + 1 if n else 0) if n_images is None else int(n_images)
        n_sources = int(source.max() + 1 if n else 0) if n_sources is None else int(n_sources)
        if validate and n and (image.max() >= n_images or source.max() >= n_sources):
            raise ValueError("image/source index out of range of n_images/n_sources")
        d = self.__dict__
        d.update(x=_frozen(x), y=_frozen(y), v=_frozen(v), labeled=_frozen(v > 0), bbox=_frozen(bbox),
                 area=_frozen(area), image=_frozen(image), source=_frozen(source), ids=_frozen(ids),
                 n_images=n_images, n_sources=n_sources, image_ids=image_ids, source_ids=source_ids)

    def __setattr__(self, name, value):
        raise AttributeError("InstanceBatch is immutable")

    def __repr__(self) -> str:
        return (f"InstanceBatch(N={len(self)}, K={self.num_keypoints}, n_images={self.n_images}, "
                f"n_sources={self.n_sources})")

    # ------------------------------------------------------------------ shape
    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def num_keypoints(self) -> int:
        return self.x.shape[1]

    @cached_property
    def xy(self) -> np.ndarray:
        """(N, K, 2) float64: coordinates as COCO lays them out."""
        xy = np.empty(self.x.shape + (2,))
        xy[..., 0] = self.x
        xy[..., 1] = self.y
        return _frozen(xy)

    @property
    def is_sorted(self) -> bool:
        """True when instances are ordered by (image, source) — what the pipeline needs."""
        key = self.image * max(self.n_sources, 1) + self.source
        return bool(np.all(key[1:] >= key[:-1]))

    # ------------------------------------------------------------ reshaping
    def _with(self, **arrays) -> "InstanceBatch":
        """Same index spaces and id maps, new per-instance arrays (trusted)."""
        return InstanceBatch(
            x=arrays["x"], y=arrays["y"], v=arrays["v"], bbox=arrays["bbox"], area=arrays["area"],
            image=arrays["image"], source=arrays["source"], ids=arrays.get("ids"),
            n_images=self.n_images, n_sources=self.n_sources, image_ids=self.image_ids,
            source_ids=self.source_ids, validate=False)

    def take(self, index) -> "InstanceBatch":
        """Subset (or reorder) instances; index spaces and id maps are kept."""
        index = np.asarray(index)
        return self._with(**{f: getattr(self, f)[index] for f in self._ARRAYS if f != "labeled"})

    def sort(self) -> tuple["InstanceBatch", np.ndarray]:
        """Stable sort by (image, source).

        Returns
        -------
        batch : InstanceBatch
        order : ndarray, shape (N,), int64
            Sorted position ``p`` is original position ``order[p]``.
        """
        order = np.lexsort((self.source, self.image))
        return self.take(order), order

    # --------------------------------------------------------- constructors
    @classmethod
    def from_components(cls, x, y, v, bbox, area, image, source, **kwargs) -> "InstanceBatch":
        """Build from separate (N, K) ``x`` and ``y`` arrays, kept as the storage.

        For kernels producing coordinates in that layout; unlabeled
        keypoints' coordinates must be finite (e.g. 0). ``validate=False``
        skips the checks for trusted internal data.
        """
        return cls(x=x, y=y, v=v, bbox=bbox, area=area, image=image, source=source, **kwargs)

    @classmethod
    def from_arrays(cls, keypoints, bbox, image, source, area=None, **kwargs) -> "InstanceBatch":
        """Build from COCO-style arrays.

        Parameters
        ----------
        keypoints : array_like, shape (N, 3K) or (N, K, 3)
            Flat COCO ``[x1, y1, v1, ..., xK, yK, vK]`` rows.
        bbox : array_like, shape (N, 4)
        image, source : array_like, shape (N,), int
        area : array_like, shape (N,), optional
            NaN entries (or ``None`` for all) fall back to ``w * h``.
        """
        bbox = np.asarray(bbox, dtype=np.float64).reshape(-1, 4)
        kp = np.asarray(keypoints, dtype=np.float64)
        if kp.ndim != 3:  # flat rows; an empty (0, K, 3) array must keep its K, which reshape cannot infer
            kp = kp.reshape(bbox.shape[0], -1, 3)
        box_area = bbox[:, 2] * bbox[:, 3]
        if area is None:
            area = box_area
        else:
            area = np.asarray(area, dtype=np.float64).reshape(-1)
            area = np.where(np.isnan(area), box_area, area)
        return cls(xy=kp[..., :2], v=np.rint(kp[..., 2]).astype(np.int8), bbox=bbox, area=area,
                   image=image, source=source, **kwargs)

    @classmethod
    def from_coco(cls, annotations: Iterable[Mapping], *, image_key: str = "image_id",
                  source_key: str = "source", num_keypoints: int | None = None) -> "InstanceBatch":
        """Build from COCO annotation dicts (``keypoints``, ``bbox``, optional ``area``).

        Image and source ids (any hashable sortable values under ``image_key``
        and ``source_key``) are factorized into dense indices; the originals
        are kept in ``image_ids`` / ``source_ids``, and ``ids`` holds each
        annotation's ``id`` when present.
        """
        anns = list(annotations)
        n = len(anns)
        if n == 0:
            k = num_keypoints or 0
            return cls(xy=np.zeros((0, k, 2)), v=np.zeros((0, k), np.int8), bbox=np.zeros((0, 4)),
                       area=np.zeros(0), image=np.zeros(0, np.int64), source=np.zeros(0, np.int64))
        kp = np.array([a["keypoints"] for a in anns], dtype=np.float64)
        if num_keypoints is not None and kp.shape[1] != 3 * num_keypoints:
            raise ValueError(f"expected {3 * num_keypoints} keypoint values, got {kp.shape[1]}")
        bbox = np.array([a["bbox"] for a in anns], dtype=np.float64)
        area = np.array([a.get("area", np.nan) if a.get("area") is not None else np.nan for a in anns],
                        dtype=np.float64)
        image_ids, image = np.unique(np.array([a[image_key] for a in anns]), return_inverse=True)
        source_ids, source = np.unique(np.array([a.get(source_key, 0) for a in anns]), return_inverse=True)
        ids = np.array([a.get("id", i) for i, a in enumerate(anns)], dtype=np.int64)
        return cls.from_arrays(kp, bbox, image, source, area=area, ids=ids,
                               image_ids=image_ids, source_ids=source_ids)


def instance_pairs(image: np.ndarray, source: np.ndarray | None = None,
                   kind: str = "cross") -> tuple[np.ndarray, np.ndarray]:
    """Every pair of instances of the same image, enumerated without loops.

    Parameters
    ----------
    image : ndarray, shape (N,), int
    source : ndarray, shape (N,), int, optional
        Needed for ``kind`` ``"cross"`` and ``"same"``.
    kind : {"cross", "same", "all"}
        Keep pairs from different annotators (what agreement scores), from
        the same annotator (what the duplicate check scores), or all.

    Returns
    -------
    a, b : ndarray, shape (P,), int64
        Positions into ``N``. Pairs are grouped by image; within an image
        ``a`` precedes ``b`` in the (stable) image order, so for a batch
        sorted by (image, source) ``source[a] <= source[b]``.
    """
    if kind not in ("cross", "same", "all"):
        raise ValueError(f"unknown kind {kind!r}")
    if kind != "all" and source is None:
        raise ValueError(f"kind={kind!r} needs source")
    image = np.asarray(image)
    order = np.argsort(image, kind="stable")
    starts, lengths = run_lengths(image[order])
    i, j = pairs_in_runs(starts, lengths)
    a, b = order[i], order[j]
    if kind == "all":
        return a, b
    source = np.asarray(source)
    keep = source[a] != source[b] if kind == "cross" else source[a] == source[b]
    return a[keep], b[keep]
