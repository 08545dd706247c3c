"""Project-level summaries: the histogram and tables a QA lead reads.

Everything pooled from a `PipelineResult`; `ProjectSummary.to_dict` gives
JSON-ready lists (NaN becomes None) for an API or a report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .pipeline import PipelineResult
from .skeleton import Skeleton

__all__ = ["ProjectSummary", "summarize"]


@dataclass(frozen=True, eq=False)
class ProjectSummary:
    """Histogram of image agreement, per-keypoint and per-annotator tables.

    Attributes
    ----------
    histogram : ndarray, shape (B,), int64
        Images per agreement bin (images without a score left out).
    bin_edges : ndarray, shape (B + 1,)
    agreement : float
        Pooled over all annotator pairs of all images.
    visibility_agreement : float
    images_scored : int
    keypoints : dict of str to ndarray, each (K,)
        ``name``, ``agreement``, ``visibility_agreement``, ``spread``
        (median consensus spread, sigma units), ``sigma`` (configured),
        ``learned_sigma``, ``learned_low``, ``learned_high``, ``learned_count``.
    annotators : dict of str to ndarray, each (S,) or (S, K)
        ``source`` (the caller's ids: findings name people), ``oks``,
        ``matched_oks``, ``pck``, ``gold_oks``, ``n_scored``, ``missed``,
        ``recall``, ``rejected``, ``swaps`` (left/right flags on their
        instances), ``swap_rate`` (their history), ``error_var``,
        ``weight``, and per keypoint ``noise_var`` and ``noise_offset``
        (S, K, 2) of the learned noise model.
    flags : dict of str to int
    biases : list of dict
        `Reliability.bias_findings`, each naming its ``annotator``.
    undecided : int
        Objects whose left/right orientation no majority settled.
    offsets_subtracted : bool
        The consensus removed each annotator's learned systematic offset.
    """

    histogram: np.ndarray
    bin_edges: np.ndarray
    agreement: float
    visibility_agreement: float
    images_scored: int
    keypoints: dict
    annotators: dict
    flags: dict
    biases: list
    undecided: int = 0
    offsets_subtracted: bool = False

    def to_dict(self) -> dict:
        """JSON-ready: arrays to lists, NaN to None."""
        def clean(v):
            if isinstance(v, np.ndarray):
                return [clean(x) for x in v.tolist()]
            if isinstance(v, (list, tuple)):
                return [clean(x) for x in v]
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, (float, np.floating)):
                return None if math.isnan(v) else float(v)
            if isinstance(v, np.integer):
                return int(v)
            return v

        return clean({f: getattr(self, f) for f in self.__dataclass_fields__})


def summarize(result: PipelineResult, skeleton=None, *, names=None, source_ids=None,
              bins: int = 20) -> ProjectSummary:
    """Summaries of a pipeline run.

    Parameters
    ----------
    result : PipelineResult
    skeleton : Skeleton, optional
        For names and configured sigmas.
    names : sequence of str, length K, optional
    source_ids : array_like, shape (S,), optional
        Annotator ids to show instead of indices (e.g. ``batch.source_ids``).
    bins : int
        Histogram bins over [0, 1].

    Returns
    -------
    ProjectSummary
    """
    img = result.images
    rel = result.reliability
    k = img.keypoint.shape[1]
    sk = Skeleton.coerce(skeleton) if skeleton is not None else None
    if names is None:
        names = sk.names if sk is not None and sk.names is not None else tuple(f"kp{i}" for i in range(k))
    scored = img.agreement[np.isfinite(img.agreement)]
    hist, edges = np.histogram(scored, bins=bins, range=(0.0, 1.0))
    pooled = img.pooled()
    con = result.consensus
    spread = np.where(con.accepted[:, None], con.spread, np.nan)
    has = np.isfinite(spread).any(0)
    med_spread = np.full(k, np.nan)
    if has.any():
        med_spread[has] = np.nanmedian(spread[:, has], axis=0)
    s = rel.oks.shape[0]
    ids = np.asarray(source_ids) if source_ids is not None else np.arange(s)
    orientation, noise = result.orientation, result.noise
    k_nan = np.full((s, k), np.nan)
    return ProjectSummary(
        histogram=hist.astype(np.int64), bin_edges=edges, agreement=pooled["agreement"],
        visibility_agreement=pooled["visibility"], images_scored=int(scored.size),
        keypoints={
            "name": np.asarray(names, dtype=object),
            "agreement": pooled["keypoint"],
            "visibility_agreement": pooled["keypoint_visibility"],
            "spread": med_spread,
            "sigma": sk.sigmas.copy() if sk is not None else np.full(k, np.nan),
            "learned_sigma": result.sigmas.sigma, "learned_low": result.sigmas.low,
            "learned_high": result.sigmas.high, "learned_count": result.sigmas.count,
        },
        annotators={
            "source": ids,
            "oks": rel.oks, "matched_oks": rel.matched_oks, "pck": rel.pck, "gold_oks": rel.gold_oks,
            "n_scored": rel.n_scored, "missed": rel.missed,
            "recall": rel.recall if rel.recall is not None else np.full(s, np.nan), "rejected": rel.rejected,
            "swaps": orientation.flag_counts if orientation is not None else np.zeros(s, np.int64),
            "swap_rate": orientation.swap_rate if orientation is not None else np.full(s, np.nan),
            "error_var": rel.error_var, "weight": rel.weight,
            "noise_var": noise.var if noise is not None else k_nan,
            "noise_offset": noise.offset if noise is not None else np.stack([k_nan, k_nan], -1),
        },
        flags=result.flags.counts(),
        biases=rel.bias_findings(names, source_ids=ids),
        undecided=int(np.count_nonzero(con.undecided)),
        offsets_subtracted=result.offsets_subtracted,
    )
