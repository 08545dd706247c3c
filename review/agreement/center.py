"""Robust centers of small point sets, vectorized over millions of sets.

A consensus keypoint is the center of the 2 to ~10 positions annotators gave
it. The geometric median (the point minimizing the sum of distances) is the
default: with three annotators, one of whom clicked the wrong joint, it
stays with the two who agree, where a mean would move a third of the way to
the outlier. Unlike picking one annotator's skeleton (CVAT's medoid), it is
an *estimate*: with independent errors it is closer to the truth than a
typical single annotator.

Cases are solved in closed form where possible — one point, two points
(the midpoint; or the heavier point when weighted), three equally weighted
points (the Fermat-Torricelli point) — and the rest by Weiszfeld's iteration
(Vardi-Zhang step at data points, a vertex-optimality test up front),
iterating only on the sets not yet converged, then polished by a few
safeguarded Newton steps.

Internally point sets are stored "structure of arrays": x and y separately,
shape (M, R) with the set index last, so every operation runs over long
contiguous rows instead of numpy's slow inner loops over a length-2 axis.
"""

from __future__ import annotations

import numpy as np

from ._segments import take_cols

__all__ = ["geometric_median", "weighted_mean"]

_CHUNK = 1 << 16


def _to_soa(points, weights):
    """(..., M, 2) points and (..., M) weights -> x, y, w of shape (M, R)."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim < 2 or p.shape[-1] != 2:
        raise ValueError("points must have shape (..., M, 2)")
    lead, m = p.shape[:-2], p.shape[-2]
    p = p.reshape(-1, m, 2)
    x = np.ascontiguousarray(p[..., 0].T)
    y = np.ascontiguousarray(p[..., 1].T)
    if weights is None:
        w = (np.isfinite(x) & np.isfinite(y)).astype(np.float64)
    else:
        w = np.broadcast_to(np.asarray(weights, dtype=np.float64), lead + (m,)).reshape(-1, m).T
        if np.any(w < 0):
            raise ValueError("weights must be >= 0")
        w = np.ascontiguousarray(w)
    absent = ~(w > 0)
    x[absent] = 0.0  # absent points may be NaN
    y[absent] = 0.0
    return x, y, w, lead


def weighted_mean(points, weights=None) -> np.ndarray:
    """Weighted mean of each point set.

    Parameters
    ----------
    points : array_like, shape (..., M, 2)
    weights : array_like, shape (..., M), optional
        Non-negative; 0 marks an absent point. Default: every finite point, weight 1.

    Returns
    -------
    center : ndarray, shape (..., 2); NaN for sets without positive weight
    """
    x, y, w, lead = _to_soa(points, weights)
    cx, cy = mean_soa(x, y, w)
    return np.stack([cx, cy], axis=-1).reshape(lead + (2,))


def mean_soa(x: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Weighted mean, structure-of-arrays form: x, y, w (M, R) -> cx, cy (R,)."""
    tot = w.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w * x).sum(0) / tot, (w * y).sum(0) / tot


def geometric_median(points, weights=None, *, tol: float = 1e-4, max_iter: int = 50) -> np.ndarray:
    """Geometric median of each point set: ``argmin_c sum_m w_m |p_m - c|``.

    Parameters
    ----------
    points : array_like, shape (..., M, 2)
    weights : array_like, shape (..., M), optional
        Non-negative; 0 marks an absent point (which may be NaN). Default:
        every finite point, weight 1.
    tol : float
        Weiszfeld hands over to Newton polishing when a step is below
        ``tol`` times the mean distance of the points to their mean.
    max_iter : int
        Cap on Weiszfeld iterations (Newton polishing follows regardless).

    Returns
    -------
    center : ndarray, shape (..., 2); NaN for sets without positive weight
    """
    x, y, w, lead = _to_soa(points, weights)
    cx, cy = median_soa(x, y, w, tol=tol, max_iter=max_iter)
    return np.stack([cx, cy], axis=-1).reshape(lead + (2,))


def median_soa(x: np.ndarray, y: np.ndarray, w: np.ndarray, *, tol: float = 1e-4, max_iter: int = 50):
    """`geometric_median` in structure-of-arrays form.

    Parameters
    ----------
    x, y, w : ndarray, shape (M, R)
        Coordinates and weights of R sets of up to M points; ``w == 0``
        marks absent points (their coordinates must be finite, e.g. 0).

    Returns
    -------
    cx, cy : ndarray, shape (R,); NaN for empty sets
    """
    r = w.shape[1]
    if r > _CHUNK:  # small chunks: temporaries stay in cache and are recycled
        out = [_median_chunk(x[:, sl], y[:, sl], w[:, sl], tol, max_iter)
               for sl in (slice(lo, lo + _CHUNK) for lo in range(0, r, _CHUNK))]
        return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])
    return _median_chunk(x, y, w, tol, max_iter)


def _median_chunk(x, y, w, tol, max_iter):
    m, r = w.shape
    present = w > 0
    cnt = np.count_nonzero(present, axis=0)
    wsum = w.sum(0)
    wmax = w.max(0)
    # Up to two points: their mean when equally weighted (any point between
    # two equal points is a median; the midpoint is the symmetric choice),
    # else the heavier point. Computed on whole rows, no gathering.
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = (w * x).sum(0) / wsum
        cy = (w * y).sum(0) / wsum
    unequal = (cnt == 2) & (wsum != 2 * wmax)
    if unequal.any():
        heavy = np.argmax(w, axis=0)[None]
        cx = np.where(unequal, np.take_along_axis(x, heavy, 0)[0], cx)
        cy = np.where(unequal, np.take_along_axis(y, heavy, 0)[0], cy)
    cx[cnt == 0] = np.nan
    cy[cnt == 0] = np.nan
    if m < 3 or not np.any(cnt >= 3):
        return cx, cy
    # Exactly three points, equally weighted: the Fermat point.
    equal3 = (cnt == 3) & np.all((w == wmax) | ~present, axis=0)
    if m == 3 and np.count_nonzero(equal3) > r // 2:
        fx, fy = _fermat(x[0], y[0], x[1], y[1], x[2], y[2])
        cx, cy = np.where(equal3, fx, cx), np.where(equal3, fy, cy)
    elif equal3.any():
        t = np.flatnonzero(equal3)
        xt, yt = take_cols(x, t), take_cols(y, t)
        if m > 3:  # bring the three present points to the top rows
            top = np.argsort(~take_cols(present, t), axis=0, kind="stable")[:3]
            xt, yt = np.take_along_axis(xt, top, 0), np.take_along_axis(yt, top, 0)
        cx[t], cy[t] = _fermat(xt[0], yt[0], xt[1], yt[1], xt[2], yt[2])
    rest = np.flatnonzero((cnt >= 3) & ~equal3)
    if rest.size:  # Weiszfeld on present points only
        xr, yr, wr = take_cols(x, rest), take_cols(y, rest), take_cols(w, rest)
        cx[rest], cy[rest] = _weiszfeld(xr, yr, wr, tol, max_iter)
    return cx, cy


def _fermat(ax, ay, bx, by, cx, cy):
    """Fermat-Torricelli point (geometric median) of triangles, without trigonometry.

    With squared side lengths ``a2, b2, c2`` (opposite vertices A, B, C) and
    twice the triangle's area ``t``, let ``D_A = 2 t + sqrt(3) (b2 + c2 - a2)``
    (and cyclically); ``D_A = 4 |AB| |AC| sin(A + 60deg)``. If some ``D <= 0``
    the angle there is >= 120 degrees (collinear and coincident vertices
    included) and the median is that vertex; otherwise the Fermat point has
    barycentric coordinates ``a/sin(A+60) : b/sin(B+60) : c/sin(C+60)``,
    which reduce to ``1/D_A : 1/D_B : 1/D_C``.

    Parameters
    ----------
    ax, ay, bx, by, cx, cy : ndarray, shape (R,)

    Returns
    -------
    x, y : ndarray, shape (R,)
    """
    abx, aby = bx - ax, by - ay
    acx, acy = cx - ax, cy - ay
    bcx, bcy = cx - bx, cy - by
    a2 = bcx * bcx + bcy * bcy
    b2 = acx * acx + acy * acy
    c2 = abx * abx + aby * aby
    t2 = 2 * np.abs(abx * acy - aby * acx)
    r3 = np.sqrt(3.0)
    da = t2 + r3 * (b2 + c2 - a2)
    db = t2 + r3 * (a2 + c2 - b2)
    dc = t2 + r3 * (a2 + b2 - c2)
    flat = 1e-12 * (a2 + b2 + c2)  # within rounding of 120 degrees: the vertex (to rounding)
    at_a = da <= flat
    at_b = ~at_a & (db <= flat)
    at_c = ~at_a & ~at_b & (dc <= flat)
    with np.errstate(divide="ignore", invalid="ignore"):
        ia, ib, ic = 1 / da, 1 / db, 1 / dc
        tot = ia + ib + ic
        fx = (ia * ax + ib * bx + ic * cx) / tot
        fy = (ia * ay + ib * by + ic * cy) / tot
    fx = np.where(at_a, ax, np.where(at_b, bx, np.where(at_c, cx, fx)))
    fy = np.where(at_a, ay, np.where(at_b, by, np.where(at_c, cy, fy)))
    return fx, fy


def _vertex_optimum(x, y, w, tiny) -> np.ndarray:
    """Index of the data point that is the geometric median, or -1.

    Point ``k`` is the median iff the weighted unit vectors from it to the
    other points sum to a vector no longer than its own weight (points
    within ``tiny`` of it adding to it). Weiszfeld converges sublinearly
    towards such a vertex, so it is settled up front.

    Parameters
    ----------
    x, y, w : ndarray, shape (M, R)
    tiny : ndarray, shape (R,)
        Distance below which two points count as one.

    Returns
    -------
    ndarray, shape (R,), int64
    """
    dx = x[None, :, :] - x[:, None, :]  # (k, i, R): p_i - p_k
    dy = y[None, :, :] - y[:, None, :]
    d = np.hypot(dx, dy)
    same = d <= tiny
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        c = np.where(same, 0.0, w[None] / d)
    pull = np.hypot((c * dx).sum(1), (c * dy).sum(1))
    own = (w[None] * same).sum(1)
    ok = (pull <= own * (1 + 1e-9)) & (w > 0)  # boundary cases (pull == own) are optima too
    return np.where(ok.any(0), np.argmax(ok, axis=0), -1)


def _weiszfeld(x, y, w, tol: float, max_iter: int):
    """Weiszfeld iteration (Vardi-Zhang step at data points), then Newton polish.

    Parameters
    ----------
    x, y, w : ndarray, shape (M, R)

    Returns
    -------
    cx, cy : ndarray, shape (R,)
    """
    wsum = w.sum(0)
    cx, cy = (w * x).sum(0) / wsum, (w * y).sum(0) / wsum
    scale = (w * np.hypot(x - cx, y - cy)).sum(0) / wsum
    stop = tol * scale
    tiny = 1e-9 * scale + 1e-300  # closer points count as one (the objective moves < 1e-9 scale)
    vertex = _vertex_optimum(x, y, w, tiny)
    hit = np.flatnonzero(vertex >= 0)
    cx[hit], cy[hit] = x[vertex[hit], hit], y[vertex[hit], hit]
    todo = np.flatnonzero((scale > 0) & (vertex < 0))
    active = todo
    for _ in range(max_iter):
        if active.size == 0:
            break
        xa, ya, wa = take_cols(x, active), take_cols(y, active), take_cols(w, active)
        px, py = cx[active], cy[active]
        dx, dy = xa - px, ya - py
        d = np.hypot(dx, dy)
        at = (d <= tiny[active]) & (wa > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(at | (wa == 0), 0.0, wa / d)
            s = inv.sum(0)
            tx, ty = (inv * xa).sum(0) / s, (inv * ya).sum(0) / s
            eta = (wa * at).sum(0)
            r = np.hypot((inv * dx).sum(0), (inv * dy).sum(0))
            gamma = np.where(eta > 0, np.minimum(1.0, eta / r), 0.0)
        gamma = np.where(np.isfinite(gamma), gamma, 1.0)
        tx = np.where(np.isfinite(tx), tx, px)
        ty = np.where(np.isfinite(ty), ty, py)
        nx = (1 - gamma) * tx + gamma * px
        ny = (1 - gamma) * ty + gamma * py
        step = np.hypot(nx - px, ny - py)
        cx[active], cy[active] = nx, ny
        active = active[step > stop[active]]
    if todo.size:
        xt, yt, wt = take_cols(x, todo), take_cols(y, todo), take_cols(w, todo)
        px, py = cx[todo], cy[todo]
        # Weiszfeld crawling (not converged), or ending near a data point, where the objective
        # is badly conditioned: also try the descent rays from the data points
        crawling = np.isin(todo, active)
        near = np.flatnonzero(crawling | (np.where(wt > 0, np.hypot(xt - px, yt - py), np.inf).min(0)
                                          < 0.05 * scale[todo]))
        if near.size:
            px[near], py[near] = _near_vertex_start(take_cols(xt, near), take_cols(yt, near), take_cols(wt, near),
                                                    px[near], py[near], scale[todo][near], tiny[todo][near])
        px, py = _newton_polish(xt, yt, wt, px, py)
        # never worse than the best data point (flat objectives near a vertex)
        f = _objective(xt, yt, wt, px, py)
        fv = np.stack([_objective(xt, yt, wt, xt[j], yt[j]) for j in range(xt.shape[0])])
        j = np.argmin(np.where(wt > 0, fv, np.inf), axis=0)
        cols = np.arange(todo.size)
        use = fv[j, cols] < f
        cx[todo] = np.where(use, xt[j, cols], px)
        cy[todo] = np.where(use, yt[j, cols], py)
    return cx, cy


def _near_vertex_start(x, y, w, cx, cy, scale, tiny, steps: int = 40):
    """Better of (cx, cy) and points on the descent ray from the nearest data point.

    When the median sits very close to a heavy data point, the objective is
    nearly flat along one direction and has a kink nearby: Weiszfeld crawls
    and Newton's quadratic model fails. From a data point the steepest
    descent direction is the (normalized) pull of the others; trying
    distances ``scale * 2**-t`` along it from the data point nearest to the
    current estimate lands within a factor two of such an optimum, where
    Newton then converges.

    Parameters
    ----------
    x, y, w : ndarray, shape (M, R); cx, cy, scale, tiny : ndarray, shape (R,)

    Returns
    -------
    cx, cy : ndarray, shape (R,)
    """
    cols = np.arange(x.shape[1])
    k = np.argmin(np.where(w > 0, np.hypot(x - cx, y - cy), np.inf), axis=0)
    vx, vy = x[k, cols], y[k, cols]
    dx, dy = x - vx, y - vy
    d = np.hypot(dx, dy)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        c = np.where(d > tiny, w / d, 0.0)  # points within `tiny` of the vertex pull as one
        ux, uy = (c * dx).sum(0), (c * dy).sum(0)
        norm = np.hypot(ux, uy)
        ux, uy = ux / norm, uy / norm
    ux, uy = np.nan_to_num(ux), np.nan_to_num(uy)
    t = scale[None, :] * 0.5 ** np.arange(steps)[:, None]  # (T, R)
    tx, ty = vx + t * ux, vy + t * uy
    f = (w[None] * np.hypot(x[None] - tx[:, None], y[None] - ty[:, None])).sum(1)  # (T, R)
    best = np.argmin(f, axis=0)
    better = f[best, cols] < _objective(x, y, w, cx, cy)
    return np.where(better, tx[best, cols], cx), np.where(better, ty[best, cols], cy)


def _objective(x, y, w, cx, cy) -> np.ndarray:
    """(R,) sum of weighted distances from (cx, cy) to the points."""
    return (w * np.hypot(x - cx, y - cy)).sum(0)


def _newton_polish(x, y, w, cx, cy, steps: int = 16, halvings: int = 24):
    """Newton steps with a backtracking line search on the median objective.

    Weiszfeld is only linearly convergent, and slow when the median lies
    close to a data point, where the objective bends sharply; Newton steps
    from its result reach machine precision. A full step is tried first;
    where it does not lower the objective, lengths 1/2, 1/4, ... are tried
    (all at once), and the step is skipped if none helps.

    Parameters
    ----------
    x, y, w : ndarray, shape (M, R); cx, cy : ndarray, shape (R,)

    Returns
    -------
    cx, cy : ndarray, shape (R,)
    """
    f = _objective(x, y, w, cx, cy)
    lengths = 0.5 ** np.arange(1, halvings + 1)[:, None]  # (H, 1)
    active = np.arange(cx.shape[0])
    for _ in range(steps):
        xa, ya, wa = take_cols(x, active), take_cols(y, active), take_cols(w, active)
        px, py, fa = cx[active], cy[active], f[active]
        dx, dy = px - xa, py - ya
        d = np.hypot(dx, dy)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            c = np.where(wa > 0, wa / d, 0.0)
            ux, uy = dx / d, dy / d
            gx, gy = (c * dx).sum(0), (c * dy).sum(0)
            hxx = (c * (1 - ux * ux)).sum(0)
            hyy = (c * (1 - uy * uy)).sum(0)
            hxy = (-c * ux * uy).sum(0)
            det = hxx * hyy - hxy * hxy
            sx = -(hyy * gx - hxy * gy) / det
            sy = -(hxx * gy - hxy * gx) / det
        ok = np.isfinite(sx) & np.isfinite(sy)
        sx, sy = np.where(ok, sx, 0.0), np.where(ok, sy, 0.0)
        nx, ny = px + sx, py + sy
        fn = np.where(ok, _objective(xa, ya, wa, nx, ny), np.inf)
        retry = np.flatnonzero(ok & ~(fn < fa))
        if retry.size:  # backtracking, every length at once
            tx = px[retry] + lengths * sx[retry]
            ty = py[retry] + lengths * sy[retry]
            xr, yr, wr = take_cols(xa, retry), take_cols(ya, retry), take_cols(wa, retry)
            ft = (wr[None] * np.hypot(xr[None] - tx[:, None], yr[None] - ty[:, None])).sum(1)  # (H, r)
            best = np.argmin(ft, axis=0)
            cols = np.arange(retry.size)
            nx[retry], ny[retry], fn[retry] = tx[best, cols], ty[best, cols], ft[best, cols]
        better = fn < fa
        cx[active] = np.where(better, nx, px)
        cy[active] = np.where(better, ny, py)
        f[active] = np.where(better, fn, fa)
        active = active[better]
        if active.size == 0:
            break
    return cx, cy
