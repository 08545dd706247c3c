"""Index arithmetic for ragged groups stored flat (runs of equal keys).

Every kernel of the engine works on flat arrays over all instances of many
images; these helpers turn "for each image, for each pair" into a handful of
``np.repeat``/``np.cumsum`` calls instead of Python loops.
"""

from __future__ import annotations

import numpy as np

#: Rows per chunk for (rows, K) computations. Whole-array temporaries of a
#: large batch are hundreds of MB: every operation then streams through
#: main memory and page-faults fresh allocations; chunks of this size stay
#: in cache and reuse freed memory, which measured ~5x faster here.
CHUNK_ROWS = 4096


def chunks(n: int, size: int = CHUNK_ROWS):
    """Slices covering ``range(n)`` in steps of ``size``."""
    for lo in range(0, n, size):
        yield slice(lo, min(lo + size, n))


def run_lengths(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and lengths of the runs of equal values in a sorted key array.

    Parameters
    ----------
    sorted_keys : ndarray, shape (N,)

    Returns
    -------
    starts, lengths : ndarray, shape (G,), int64
    """
    n = sorted_keys.shape[0]
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    change = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    starts = np.concatenate(([0], change)).astype(np.int64)
    lengths = np.diff(np.concatenate((starts, [n]))).astype(np.int64)
    return starts, lengths


def rank_in_runs(sorted_keys: np.ndarray) -> np.ndarray:
    """(N,) int64: position of each element inside its run of equal keys."""
    starts, lengths = run_lengths(sorted_keys)
    return np.arange(sorted_keys.shape[0], dtype=np.int64) - np.repeat(starts, lengths)


def pairs_in_runs(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All index pairs ``i < j`` inside each run, without a Python loop.

    Parameters
    ----------
    starts, lengths : ndarray, shape (G,)
        Runs of a flat array (see `run_lengths`).

    Returns
    -------
    i, j : ndarray, shape (P,), int64
        ``P = sum(L * (L - 1) / 2)``; ordered by run, then ``i``, then ``j``.
    """
    n = int(lengths.sum())
    pos = np.arange(n, dtype=np.int64) - np.repeat(starts, lengths)
    after = np.repeat(lengths, lengths) - pos - 1  # later members of the same run
    flat = np.repeat(starts, lengths) + pos  # global index of each element
    total = int(after.sum())
    i = np.repeat(flat, after)
    block_start = np.cumsum(after) - after
    j = i + (np.arange(total, dtype=np.int64) - np.repeat(block_start, after) + 1)
    return i, j


def join_runs(keys_a: np.ndarray, keys_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``(i, j)`` with ``keys_a[i] == keys_b[j]`` (an equi-join).

    Parameters
    ----------
    keys_a : ndarray, shape (A,) int
    keys_b : ndarray, shape (B,) int

    Returns
    -------
    i, j : ndarray, shape (P,), int64
        Indices into ``keys_a`` and ``keys_b``, grouped by key.
    """
    oa = np.argsort(keys_a, kind="stable")
    ob = np.argsort(keys_b, kind="stable")
    ka, kb = keys_a[oa], keys_b[ob]
    lo = np.searchsorted(kb, ka, side="left")
    hi = np.searchsorted(kb, ka, side="right")
    cnt = hi - lo
    i = np.repeat(np.arange(ka.shape[0], dtype=np.int64), cnt)
    first = np.cumsum(cnt) - cnt
    j = np.repeat(lo, cnt) + (np.arange(int(cnt.sum()), dtype=np.int64) - np.repeat(first, cnt))
    return oa[i], ob[j]


def segment_median(values: np.ndarray, mask: np.ndarray, axis: int = 1) -> np.ndarray:
    """Median along ``axis`` of the entries where ``mask`` is true (NaN if none).

    Sorting with the masked entries pushed to +inf and picking the middle
    order statistics is much faster than ``np.nanmedian`` on short axes.

    Parameters
    ----------
    values : ndarray, shape (..., M, ...)
    mask : ndarray of bool, broadcastable to ``values``

    Returns
    -------
    ndarray, ``values.shape`` without ``axis``
    """
    mask = np.broadcast_to(mask, values.shape)
    s = np.sort(np.where(mask, values, np.inf), axis=axis)
    cnt = mask.sum(axis=axis, keepdims=True)
    lo = np.take_along_axis(s, np.maximum((cnt - 1) // 2, 0), axis=axis)
    hi = np.take_along_axis(s, cnt // 2, axis=axis)
    with np.errstate(invalid="ignore"):
        med = 0.5 * (lo + hi)
    med = np.where(cnt > 0, med, np.nan)
    return np.squeeze(med, axis=axis)


def stable_group_order(group: np.ndarray, n_groups: int) -> np.ndarray:
    """Stable argsort of small non-negative ints (radix sort for <= 16-bit keys)."""
    dtype = np.uint8 if n_groups <= 1 << 8 else np.uint16 if n_groups <= 1 << 16 else np.int64
    return np.argsort(group.astype(dtype, copy=False), kind="stable")


def grouped_median(group: np.ndarray, values: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Median of ``values`` within each group, vectorized, without a full sort.

    For non-negative values, ``group + v / (1 + v)`` maps every group into
    its own unit interval while preserving order inside it, so a single
    ``np.partition`` at each group's middle ranks yields all medians
    (O(n log G) instead of a sort). Other values fall back to a two-key sort.

    Parameters
    ----------
    group : ndarray, shape (P,), int in ``[0, n_groups)``
    values : ndarray, shape (P,) float (NaNs must be removed by the caller)

    Returns
    -------
    median : ndarray, shape (n_groups,), NaN for empty groups
    count : ndarray, shape (n_groups,), int64
    """
    count = np.bincount(group, minlength=n_groups).astype(np.int64)
    start = np.cumsum(count) - count
    med = np.full(n_groups, np.nan)
    ok = count > 0
    lo = start[ok] + (count[ok] - 1) // 2
    hi = start[ok] + count[ok] // 2
    if values.size == 0:
        return med, count
    if values.min() >= 0 and np.isfinite(values).all() and n_groups < 1 << 20:
        shrink = 1.0 - 1e-9  # keep keys below the next integer despite rounding
        key = group + (values / (1.0 + values)) * shrink
        part = np.partition(key, np.unique(np.r_[lo, hi]))
        g = np.flatnonzero(ok)
        f_lo = (part[lo] - g) / shrink
        f_hi = (part[hi] - g) / shrink
        med[ok] = 0.5 * (f_lo / (1.0 - f_lo) + f_hi / (1.0 - f_hi))
        return med, count
    by_value = np.argsort(values)
    order = by_value[stable_group_order(group[by_value], n_groups)]
    x = values[order]
    med[ok] = 0.5 * (x[lo] + x[hi])
    return med, count


def take_cols(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``a[:, idx]`` for a short-and-wide (M, R) array, row by row.

    Fancy indexing along the second axis of a 2-D array is an order of
    magnitude slower in numpy than ``take`` on each contiguous row; M is the
    number of annotators (a handful), so the loop is over rows, not data.
    """
    out = np.empty((a.shape[0], idx.shape[0]), dtype=a.dtype)
    for j in range(a.shape[0]):
        np.take(a[j], idx, out=out[j])
    return out


def group_sum(group: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum of ``values`` rows per group (``np.add.at`` semantics, via ``np.bincount``).

    Parameters
    ----------
    group : ndarray, shape (P,), int in ``[0, n_groups)``
    values : ndarray, shape (P,) or (P, K)

    Returns
    -------
    ndarray, shape (n_groups,) or (n_groups, K), float64
    """
    values = np.asarray(values)
    if values.ndim == 1:
        return np.bincount(group, weights=values, minlength=n_groups).astype(np.float64)
    k = values.shape[1]
    flat = (group[:, None] * k + np.arange(k)).ravel()
    return np.bincount(flat, weights=values.ravel(), minlength=n_groups * k).reshape(n_groups, k)


def add_sorted(acc: np.ndarray, group: np.ndarray, values: np.ndarray) -> None:
    """``acc[g] += sum of values rows with group g``, for ``group`` sorted.

    The chunked reductions of the engine: rows arrive sorted by group, so
    one ``np.add.reduceat`` over the runs replaces ``np.add.at``.

    Parameters
    ----------
    acc : ndarray, shape (G, ...)
    group : ndarray, shape (P,), sorted
    values : ndarray, shape (P, ...)
    """
    if group.shape[0] == 0:
        return
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    acc[group[starts]] += np.add.reduceat(values, starts, axis=0)


def sorted_unique(keys: np.ndarray) -> np.ndarray:
    """``np.unique`` for int keys, in O(n) when they are already sorted."""
    if keys.shape[0] and np.all(keys[1:] >= keys[:-1]):
        return keys[np.r_[True, keys[1:] != keys[:-1]]]
    return np.unique(keys)


def accumulate(acc: np.ndarray, group: np.ndarray, values: np.ndarray) -> None:
    """``acc[g] += sum of values rows with group g`` (any order; sorted is fastest).

    Parameters
    ----------
    acc : ndarray, shape (G,) or (G, K)
    group : ndarray, shape (P,), int
    values : ndarray, shape (P,) or (P, K)
    """
    if group.shape[0] == 0:
        return
    if np.all(group[1:] >= group[:-1]):
        add_sorted(acc, group, values)
    else:
        acc += group_sum(group, values, acc.shape[0])


def masked_median0(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Median over axis 0 of the entries where ``mask`` (NaN if none).

    Closed forms for up to three entries (mean of one or two; max-min
    formula for three), the general masked sort otherwise.

    Parameters
    ----------
    values : ndarray, shape (M, ...)
    mask : ndarray of bool, broadcastable to ``values``
    """
    m = values.shape[0]
    mask = np.broadcast_to(mask, values.shape)
    if m > 3:
        return segment_median(values, mask, axis=0)
    cnt = mask.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(mask, values, 0.0).sum(0) / cnt
    if m == 3:
        a, b, c = values
        med3 = np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))
        out = np.where(cnt == 3, med3, out)
    return out
