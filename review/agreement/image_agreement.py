"""How much the annotators of each image agree with each other.

For every object (cluster) and every pair of annotators assigned to the
image: their `agreement_oks` if both drew the object, 0 if only one did (a
missed person is disagreement), nothing if neither did. An image's
agreement is the mean over those pairs; the same is kept per keypoint (a
keypoint counts where either side labeled it; a missing instance scores 0 on
the keypoints the other side labeled) and for visibility (the fraction of
matched pairs giving a keypoint the same ``v``, 0/1/2).

Numerators and denominators are kept, so project-level figures are pooled
correctly (a 10-person image weighs more than a 1-person one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._segments import CHUNK_ROWS, accumulate, chunks
from .batch import InstanceBatch
from .clustering import Clusters
from .consensus import image_replicas
from .oks import pair_agreement

__all__ = ["ImageAgreement", "image_agreement"]


@dataclass(frozen=True, eq=False)
class ImageAgreement:
    """Per-image agreement, with the sums needed to pool images.

    Attributes
    ----------
    agreement : ndarray, shape (I,)
        Mean pairwise OKS, missing instances counting 0; NaN for images
        with no object or fewer than two annotators.
    keypoint : ndarray, shape (I, K)
        The same per keypoint; NaN where no pair counted it.
    visibility : ndarray, shape (I,)
        Fraction of (matched pair, keypoint) with equal ``v``.
    keypoint_visibility : ndarray, shape (I, K)
    n_objects : ndarray, shape (I,), int64
        Clusters in the image.
    oks_sum, pair_count : ndarray, shape (I,)
        ``agreement = oks_sum / pair_count``.
    keypoint_sum, keypoint_count : ndarray, shape (I, K)
    visibility_sum : ndarray, shape (I, K)
    matched_pairs : ndarray, shape (I,)
        ``keypoint_visibility = visibility_sum / matched_pairs``.
    """

    agreement: np.ndarray
    keypoint: np.ndarray
    visibility: np.ndarray
    keypoint_visibility: np.ndarray
    n_objects: np.ndarray
    oks_sum: np.ndarray
    pair_count: np.ndarray
    keypoint_sum: np.ndarray
    keypoint_count: np.ndarray
    visibility_sum: np.ndarray
    matched_pairs: np.ndarray

    def pooled(self) -> dict:
        """Project-level figures pooled over images.

        Returns
        -------
        dict with ``agreement`` (float), ``keypoint`` (K,),
        ``visibility`` (float), ``keypoint_visibility`` (K,)
        """
        with np.errstate(invalid="ignore", divide="ignore"):
            kvis = self.visibility_sum.sum(0) / self.matched_pairs.sum()
            return {
                "agreement": float(self.oks_sum.sum() / self.pair_count.sum()),
                "keypoint": self.keypoint_sum.sum(0) / self.keypoint_count.sum(0),
                "visibility": float(self.visibility_sum.sum() / (self.matched_pairs.sum() * kvis.size)),
                "keypoint_visibility": kvis,
            }


def image_agreement(batch: InstanceBatch, clusters: Clusters, sigmas, *, replicas=None,
                    member_pairs=None) -> ImageAgreement:
    """Per-image agreement from clustered instances.

    Parameters
    ----------
    batch : InstanceBatch
    clusters : Clusters
    sigmas : array_like, shape (K,)
    replicas : array_like, shape (n_images,), optional
        Annotators assigned to each image (default: those who drew
        anything on it). Raised to a cluster's support where smaller.
    member_pairs : tuple (cluster, a, b), optional
        ``clusters.member_pairs()``, if already computed.

    Returns
    -------
    ImageAgreement
    """
    n_img, k = batch.n_images, batch.num_keypoints
    reps = image_replicas(batch) if replicas is None else np.asarray(replicas, dtype=np.int64)
    cl, a, b = clusters.member_pairs() if member_pairs is None else member_pairs
    cimg = clusters.image
    n = clusters.support
    r = np.maximum(reps[cimg], n)
    # annotator pairs with at least one member: all pairs minus pairs of non-members
    counted = (r * (r - 1) - (r - n) * (r - n - 1)) // 2
    missing = r - n  # annotators without an instance in the cluster

    oks_sum = np.zeros(n_img)
    matched = np.zeros(n_img)
    kp_sum = np.zeros((n_img, k))
    kp_count = np.zeros((n_img, k))
    vis_sum = np.zeros((n_img, k))
    for sl in chunks(cl.shape[0]):  # member pairs, chunk by chunk, reduced per image
        pa, pb = a[sl], b[sl]
        img = cimg[cl[sl]]
        oks, per = pair_agreement(batch, pa, pb, sigmas, keypoints=True, chunk=CHUNK_ROWS)
        known = ~np.isnan(per)
        accumulate(oks_sum, img, np.nan_to_num(oks))
        accumulate(matched, img, np.ones(oks.shape[0]))
        accumulate(kp_sum, img, np.where(known, per, 0.0))
        accumulate(kp_count, img, known.astype(np.float64))
        accumulate(vis_sum, img, (batch.v[pa] == batch.v[pb]).astype(np.float64))
    pair_count = np.bincount(cimg, weights=counted.astype(np.float64), minlength=n_img)
    # one-sided pairs (member vs annotator without an instance): counted, score 0
    miss = missing[clusters.of].astype(np.float64)
    for sl in chunks(len(batch)):
        accumulate(kp_count, batch.image[sl], batch.labeled[sl] * miss[sl, None])
    n_objects = np.bincount(cimg, minlength=n_img).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = oks_sum / pair_count
        keypoint = kp_sum / kp_count
        kvis = vis_sum / matched[:, None]
        visibility = vis_sum.sum(1) / (matched * k)
    return ImageAgreement(agreement=agreement, keypoint=keypoint, visibility=visibility,
                          keypoint_visibility=kvis, n_objects=n_objects, oks_sum=oks_sum,
                          pair_count=pair_count, keypoint_sum=kp_sum, keypoint_count=kp_count,
                          visibility_sum=vis_sum, matched_pairs=matched)
