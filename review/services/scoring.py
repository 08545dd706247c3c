"""Score images: annotators' replicas in, agreement, consensus and a decision out.

The numbers come from the NumPy engine in `review.agreement` (one
`run_pipeline` call over every image of the batch); this module only moves
rows in and out of the database, in bulk, and decides what happens to each
image:

- auto-accepted when its agreement reaches the project's `auto_accept_oks`,
  every drawn object reached the quorum, nobody missed an object the others
  agree exists, no object's left/right orientation is undecided, no blocking
  flag was raised, and it was not drawn for the spot-check sample
  (`review_sample_rate`);
- given one more annotator when the project's `max_replicas` allows and
  only agreement, the quorum, a missed object or an undecided orientation
  held it back (see `_decide`);
- otherwise sent to review with the reasons, naming the annotators (user
  ids) concerned, so the QA lead sees why.

The project's history (what the last `score_project` learned: each
annotator's swap record and per-keypoint noise, kept in the project report)
settles objects two annotators disagree on and weights the consensus when a
few images are scored at a time.

Scoring is idempotent: the consensus annotation, the ConsensusResult and the
review task are rewritten, not added to, a score round is appended only when
the outcome changed, and only images still in `scoring` change status, so a
QA decision is never undone by a re-run. Rows are read by `scoring_rows` and
written by `scoring_writer`, set-based.
"""

from __future__ import annotations

import gc
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import combinations
from typing import Callable, Iterable, Iterator

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from annotation.models import Image, Project, SkeletonSpec
from annotation.services import image_status
from jointly.bulk import is_postgresql
from review.agreement import FLAG_CODES, AnnotatorHistory, NoiseModel, PipelineResult, run_pipeline, summarize
from review.agreement.oks import pair_agreement

from .quality import pause_annotators_below_loo_floor
from .scoring_rows import ImageRows, Rows, load_rows
from .scoring_writer import write_batch
from ..models import ConsensusResult, ProjectAgreement, ReviewTask

#: Flags that send an image to review on their own. The others are shown but
#: do not block: visibility disagreement already lowers the agreement, a point
#: just past the image border passed submit validation's tolerance, and limb
#: lengths are only judged well against a whole project (see `score_project`).
BLOCKING_FLAGS = ("left_right_swap", "duplicate_instance", "outside_box")
SCORED_STATUSES = image_status.SCORED
#: Images written per transaction when a whole project is rescored.
RESCORE_BATCH = 5000
#: Batches written at once (each by its own connection) in a project rescore.
WRITERS = 2


def _history_record(result: PipelineResult, annotators: np.ndarray) -> dict:
    """What a project pass learned about its annotators, keyed by user id, for the project report."""
    history = result.history()
    record = {"annotators": annotators.tolist(), "checked": history.checked.tolist(),
              "swapped": history.swapped.tolist()}
    if history.noise is not None:
        noise = history.noise
        record["noise"] = {"count": noise.count.tolist(), "sum_sq": np.round(noise.sum_sq, 6).tolist(),
                           "sum_offset": np.round(noise.sum_offset, 6).tolist()}
    return record


def _load_history(project: Project, annotators: np.ndarray, k: int) -> AnnotatorHistory | None:
    """The project report's annotator history, re-indexed to this batch's annotators (one query)."""
    report = ProjectAgreement.objects.filter(project=project).values_list("report", flat=True).first()
    record = (report or {}).get("history")
    if not record or not annotators.size:
        return None
    known = np.asarray(record["annotators"], dtype=np.int64)
    here = np.searchsorted(known, annotators)  # user ids are stored sorted (np.unique)
    here = np.where(here < known.size, here, 0)
    found = known[here] == annotators if known.size else np.zeros(annotators.size, bool)

    def pick(values, shape):
        out = np.zeros((annotators.size,) + shape)
        values = np.asarray(values, dtype=np.float64).reshape((known.size,) + shape)
        out[found] = values[here[found]]
        return out

    noise = None
    if "noise" in record and np.asarray(record["noise"]["count"]).shape[-1:] == (k,):
        stats = record["noise"]
        noise = NoiseModel.from_statistics(pick(stats["count"], (k,)), pick(stats["sum_sq"], (k,)),
                                           pick(stats["sum_offset"], (k, 2)))
    return AnnotatorHistory(checked=pick(record["checked"], ()), swapped=pick(record["swapped"], ()), noise=noise)


def _sampled_for_review(image_id: int, rate: float) -> bool:
    """A stable draw per image, so re-scoring makes the same spot-check choice."""
    digest = hashlib.blake2b(f"review-sample:{image_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate


def _none_if_nan(values: np.ndarray) -> list:
    """Rounded to 6 places, NaN as None (for SQL columns; JSON has no NaN); nested lists for 2-D input."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), np.round(values, 6), None).tolist()


def _json_floats(values: np.ndarray, decimals: int = 6) -> list:
    """Rounded, as (nested) lists for a JSON column: orjson writes NaN as null, so no object array."""
    return np.round(np.asarray(values, dtype=np.float64), decimals).tolist()


def settled_agreement(pairwise: dict[str, float], size: int) -> tuple[float, tuple[str, ...]] | None:
    """The mean pairwise OKS of the most consistent `size` annotators of an image, and who they are.

    With adaptive replicas an image may have more annotators than the
    project's replicas; mean pairwise OKS over all of them does not rise with
    more people (it measures their noise, not the consensus), but a majority
    of `replicas` people who agree does settle the image, as in "get another
    label" crowdsourcing. A pair that drew nothing together counts 0.
    `pairwise` is {"a-b": OKS} (user ids, a < b); None with fewer than `size` annotators.
    """
    people = sorted({p for key in pairwise for p in key.split("-")})
    if len(people) < size:
        return None
    best = None
    for group in combinations(people, size):
        values = [pairwise.get(f"{a}-{b}", pairwise.get(f"{b}-{a}", 0.0)) for a, b in combinations(group, 2)]
        mean = sum(values) / len(values)
        if best is None or mean > best[0]:
            best = (mean, group)
    return best


def _decide(project: Project, image_id: int, agreement: float | None, n_drawn: int, rejected: int,
            blocking: dict[str, int], n_annotators: int, object_reasons: list[str] = (),
            pairwise: dict | None = None) -> tuple[str, list[str], str]:
    """(decision, reasons, review task kind) for one scored image.

    Adaptive replicas: an image that missed only on agreement, the quorum,
    a missed object or an undecided orientation (no blocking flag: a swap or
    a duplicate is a person's mistake, not noise that one more opinion
    averages out) gets one more annotator while the project's
    `max_replicas` allows, and goes to a QA lead only after that. Once it has
    more annotators than `replicas`, its agreement is that of the most
    consistent `replicas` of them (`settled_agreement`); the consensus still
    uses everybody.
    """
    reasons = []
    if agreement is not None and pairwise and n_annotators > project.replicas >= 2:
        settled = settled_agreement(pairwise, project.replicas)
        if settled is not None and settled[0] >= project.auto_accept_oks > agreement:
            agreement = settled[0]  # a majority of `replicas` annotators agrees: the image is settled
    if agreement is not None:
        if agreement < project.auto_accept_oks:
            reasons.append(f"agreement {agreement:.3f} is below the auto-accept threshold {project.auto_accept_oks:.2f}")
    elif n_drawn and project.replicas >= 2:
        # Redundancy was asked for but did not happen (one annotator drew, the others saw nothing).
        # A single-replica project cannot measure agreement by design: flags and the sample decide.
        reasons.append("agreement cannot be measured: fewer than two annotators drew this image's objects")
    if rejected:
        reasons.append(f"{rejected} instance(s) drawn by too few annotators to reach the quorum")
    reasons.extend(object_reasons)  # who missed which person; orientations left undecided
    settleable = bool(reasons) and not blocking
    for code, count in blocking.items():
        reasons.append(f"{count} flag(s) '{code}': {FLAG_CODES[code].lower().rstrip('.')}")
    kind = ReviewTask.Kind.REVIEW
    if not reasons and _sampled_for_review(image_id, project.review_sample_rate):
        reasons.append(f"drawn for the spot-check sample ({project.review_sample_rate:.0%} of accepted images)")
        kind = ReviewTask.Kind.SPOT_CHECK
    if not reasons:
        return ConsensusResult.Decision.AUTO_ACCEPTED, reasons, kind
    ceiling = project.replica_ceiling
    if settleable and ceiling > project.replicas:
        if n_annotators < ceiling:
            reasons.append(f"adaptive replicas: one more annotator ({n_annotators + 1} of at most {ceiling}) "
                           "before a QA lead looks")
            return ConsensusResult.Decision.MORE_REPLICAS, reasons, kind
        reasons.append(f"adaptive replicas: max_replicas ({ceiling}) reached without settling")
    return ConsensusResult.Decision.NEEDS_REVIEW, reasons, kind


def _pairwise(rows: Rows, result: PipelineResult, sigmas: np.ndarray) -> list[dict]:
    """Per image, mean OKS of each annotator pair over the objects both drew."""
    cluster, a, b = result.consensus.clusters.member_pairs()
    out: list[dict] = [{} for _ in range(len(rows.images))]
    if a.size == 0:
        return out
    oks = pair_agreement(rows.batch, a, b, sigmas)
    src = rows.batch.source
    lo, hi = np.minimum(src[a], src[b]), np.maximum(src[a], src[b])
    image = rows.batch.image[a]
    key = (image * len(rows.annotators) + lo) * len(rows.annotators) + hi
    keys, inverse = np.unique(key, return_inverse=True)
    sums = np.bincount(inverse, weights=oks)
    counts = np.bincount(inverse)
    n = len(rows.annotators)
    for k_, s_, c_ in zip(keys.tolist(), sums.tolist(), counts.tolist()):
        img, rest = divmod(k_, n * n)
        x, y = divmod(rest, n)
        out[img][f"{rows.annotators[x]}-{rows.annotators[y]}"] = round(s_ / c_, 6)
    return out


def _people_of_objects(rows: Rows, result: PipelineResult) -> tuple[dict, dict]:
    """Per object (cluster index): user ids who missed it; for undecided ones, whose orientation was kept."""
    cluster, source = result.missed
    missed_by: dict[int, list[int]] = {}
    for c, src in zip(cluster.tolist(), rows.annotators[source].tolist()):  # one per miss: there are few
        missed_by.setdefault(c, []).append(src)
    followed: dict[int, list[int]] = {}
    members = result.consensus.clusters.members
    for c in np.flatnonzero(result.consensus.undecided).tolist():  # undecided objects are rare
        kept = [m for m in members[c].tolist() if m >= 0 and not result.orientation.exchanged[m].any()]
        followed[c] = sorted({int(rows.annotators[rows.batch.source[m]]) for m in kept})
    return missed_by, followed


@dataclass
class _Scored:
    """What one scoring pass did, and the engine's output for the project report."""

    auto_accepted: int = 0
    needs_review: int = 0
    result: PipelineResult | None = None
    rows: Rows | None = None
    #: seconds spent reading rows, in the engine, preparing rows to write, and writing them
    timings: dict = field(default_factory=dict)

    @property
    def scored(self) -> int:
        return self.auto_accepted + self.needs_review


def score_images(image_ids: Iterable[int], *, progress: Callable | None = None) -> dict:
    """Score these images (any projects) and store consensus, results, decisions. Idempotent."""
    ids = sorted(set(int(i) for i in image_ids))
    project_ids = Image.objects.filter(pk__in=ids).values_list("project_id", flat=True).distinct()
    summary = {"scored": 0, "auto_accepted": 0, "needs_review": 0}
    for project in Project.objects.filter(pk__in=project_ids).select_related("skeleton"):
        with transaction.atomic():  # a few images: lock them all before reading, one transaction
            images = Image.objects.filter(pk__in=ids, project=project)
            list(images.select_for_update().order_by("pk").values_list("pk", flat=True))
            done = _score(project, images, progress)
        summary["scored"] += done.scored
        summary["auto_accepted"] += done.auto_accepted
        summary["needs_review"] += done.needs_review
    return summary


@contextmanager
def _cycle_collector_paused():
    """Python's cycle collector off for the block or decorated call (back on after, unless it was off).

    Scoring builds millions of small lists and dicts (the rows it writes), none
    of them in a reference cycle, so reference counting frees them all. The
    cycle collector would still re-scan the growing heap every few thousand
    allocations: preparing 100,000 images' rows took 6.3 s with it and 2.8 s
    without. Whoever saw it on turns it back on, so concurrent callers leave it on.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


@_cycle_collector_paused()
def _score(project: Project, images_qs, progress=None, *, with_history: bool = True,
           batch_size: int | None = None) -> _Scored:
    """Score these images together; write the outcome in batches of `batch_size` images
    (None: all at once), each batch one transaction under its images' row locks."""
    timings = {}
    clock = time.perf_counter()
    images = ImageRows.of(images_qs)
    if not len(images):
        return _Scored()
    spec = project.skeleton.spec()
    rows = load_rows(images, spec, project.max_instances_per_image)
    # A whole-project pass learns the history itself: adding the stored one would count it twice.
    history = _load_history(project, rows.annotators, spec.num_keypoints) if with_history else None
    timings["read"], clock = time.perf_counter() - clock, time.perf_counter()
    if progress:
        progress(0.2, 1, f"scoring {len(images)} images, {len(rows.batch)} instances")
    result = run_pipeline(
        rows.batch, spec, assignments=rows.assignments, gold=rows.gold, image_size=images.size, history=history,
        subtract_offsets=settings.SUBTRACT_ANNOTATOR_OFFSETS,
    )
    timings["engine"], clock = time.perf_counter() - clock, time.perf_counter()
    if progress:
        progress(0.5, 1, "storing consensus and decisions")
    accepted = _store(project, rows, result, spec, batch_size=batch_size or len(images), progress=progress,
                      timings=timings)
    # Automatic pausing on the project's leave-one-out floor, for the annotators scored here.
    with transaction.atomic():
        pause_annotators_below_loo_floor(project, rows.annotators.tolist())
    timings["write"] = timings.get("write", 0.0) + time.perf_counter() - clock - timings.get("prepare", 0.0)
    return _Scored(auto_accepted=accepted, needs_review=len(images) - accepted, result=result, rows=rows,
                   timings=timings)


def _store(project: Project, rows: Rows, result: PipelineResult, spec: SkeletonSpec, *, batch_size: int,
           progress: Callable | None = None, timings: dict | None = None) -> int:
    """Write consensus, results, statuses and review tasks; returns how many images were auto-accepted.

    The rows of each batch of images are computed, then written in one
    transaction. A worker killed between batches leaves whole batches only,
    and a re-run computes the same rows from the same inputs and rewrites them
    to the same values (unchanged rows keep their versions), so it ends where
    a clean run ends.

    Outside a transaction on PostgreSQL (a project rescore), WRITERS threads,
    each with its own connection, write batches while this thread computes
    the next ones, so the database's work and Python's overlap (batches hold
    disjoint images, so their transactions never wait on each other). Inside a transaction
    (scoring a few images under their row locks) everything stays on this
    connection.
    """
    prepared = _prepared_batches(project, rows, result, spec, batch_size)
    now = timezone.now()
    n_img, accepted, done, prepare = len(rows.images), 0, 0, 0.0

    def write(scored: tuple[list[dict], dict]) -> int:
        with transaction.atomic():
            write_batch(project, *scored, now)
        return len(scored[0])

    def write_in_thread(scored: tuple[list[dict], dict]) -> int:
        try:
            return write(scored)
        finally:
            connection.close()  # looked up in the writer thread: its own connection

    threaded = is_postgresql() and not connection.in_atomic_block and n_img > batch_size
    pool = ThreadPoolExecutor(max_workers=WRITERS) if threaded else None
    pending: list = []
    try:
        while True:
            clock = time.perf_counter()
            scored = next(prepared, None)
            prepare += time.perf_counter() - clock
            while pending and (scored is None or len(pending) >= WRITERS):
                done += pending.pop(0).result()
                if progress:
                    progress(0.5 + 0.5 * done / n_img, 1, f"stored {done} of {n_img} images")
            if scored is None:
                break
            accepted += sum(s["decision"] == ConsensusResult.Decision.AUTO_ACCEPTED for s in scored[0])
            if pool is None:
                done += write(scored)
                if progress:
                    progress(0.5 + 0.5 * done / n_img, 1, f"stored {done} of {n_img} images")
            else:
                pending.append(pool.submit(write_in_thread, scored))
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    if timings is not None:
        timings["prepare"] = prepare
    return accepted


def _prepared_batches(project: Project, rows: Rows, result: PipelineResult, spec: SkeletonSpec,
                      batch_size: int) -> Iterator[tuple[list[dict], dict]]:
    """Each batch's rows to write (see `write_batch`), computed from the engine's arrays (whole-project
    work first)."""
    sigmas = np.asarray(spec.sigmas, dtype=np.float64)
    n_img = len(rows.images)
    con = result.consensus
    img_agree = result.images
    batch = rows.batch
    # Per image: instances drawn, instances the quorum rejected, annotators assigned.
    drawn = np.bincount(batch.image, minlength=n_img)
    rejected_mask = ~con.accepted[con.clusters.of] if len(batch) else np.zeros(0, bool)
    rejected = np.bincount(batch.image[rejected_mask], minlength=n_img)
    assigned = np.unique(np.c_[rows.assignments[0], rows.assignments[1]], axis=0)
    n_annotators = np.bincount(assigned[:, 0], minlength=n_img)
    flags = result.flags
    # A swap found on an object whose orientation is undecided (two annotators disagree and nobody
    # breaks the tie) is nobody's known mistake: like low agreement, one more opinion settles it.
    undecided_swap = (flags.code == "left_right_swap") & con.undecided[con.clusters.of[flags.instance]]
    blocking_mask = np.isin(flags.code, BLOCKING_FLAGS) & ~undecided_swap
    blocking_by_image: list[dict[str, int]] = [{} for _ in range(n_img)]
    for code, img in zip(flags.code[blocking_mask].tolist(), flags.image[blocking_mask].tolist()):
        blocking_by_image[img][code] = blocking_by_image[img].get(code, 0) + 1
    pairwise = _pairwise(rows, result, sigmas)
    # Per image, per annotator: mean OKS of their instances against the others' consensus.
    per_image_annotator: list[dict] = [{} for _ in range(n_img)]
    inst_oks = np.nan_to_num(result.instance_oks, nan=0.0)
    n_src = max(len(rows.annotators), 1)
    keys, inverse = np.unique(batch.image * n_src + batch.source, return_inverse=True)
    sums, counts = np.bincount(inverse, weights=inst_oks), np.bincount(inverse)
    for k_, s_, c_ in zip(keys.tolist(), sums.tolist(), counts.tolist()):
        img, src = divmod(k_, n_src)
        per_image_annotator[img][str(int(rows.annotators[src]))] = {"oks": round(s_ / c_, 6), "instances": c_}
    missed_by, followed = _people_of_objects(rows, result)
    # Flags and consensus objects in image order (stable: an image's objects keep their numbers).
    flag_order = np.argsort(flags.image, kind="stable")
    flag_bounds = np.searchsorted(flags.image[flag_order], np.arange(0, n_img + batch_size, batch_size))
    cinst = con.instances
    object_order = np.argsort(cinst.image, kind="stable")
    object_bounds = np.searchsorted(cinst.image[object_order], np.arange(0, n_img + batch_size, batch_size))
    ids = rows.images.ids.tolist()
    keypoint_names = np.array([*spec.names, None], dtype=object)  # index -1: no keypoint

    for n, lo in enumerate(range(0, n_img, batch_size)):
        hi = min(lo + batch_size, n_img)
        size = hi - lo
        flag_records = [[] for _ in range(size)]
        f = flag_order[flag_bounds[n]:flag_bounds[n + 1]]
        inst = flags.instance[f]
        for code, img, kp, other_kp, score, annotator, annotation, index in zip(
            flags.code[f].tolist(), (flags.image[f] - lo).tolist(), keypoint_names[flags.keypoint[f]].tolist(),
            keypoint_names[flags.other_keypoint[f]].tolist(), np.round(flags.score[f], 4).tolist(),
            rows.annotators[batch.source[inst]].tolist(), rows.annotation_id[inst].tolist(),
            rows.instance_index[inst].tolist(),
        ):  # one dict per raised flag (its message is added when it is read: see presenters.with_messages)
            flag_records[img].append({"code": code, "annotator": annotator, "annotation": annotation,
                                      "instance": index, "keypoint": kp, "other_keypoint": other_kp, "score": score})
        objects, consensus_instances, object_reasons = ([[] for _ in range(size)] for _ in range(3))
        c_ = object_order[object_bounds[n]:object_bounds[n + 1]]
        keypoints = np.concatenate([np.round(cinst.xy[c_], 3), cinst.v[c_][..., None]], axis=2)
        keypoints = keypoints.reshape(len(c_), 3 * cinst.xy.shape[1]).astype(object)  # explicit: maybe no object
        keypoints[:, 2::3] = cinst.v[c_].astype(np.int64)  # visibility stays an int in JSON (object: Python ints)
        for c, img, kp, box, area, support, quorum, accepted, spread, undecided in zip(
            c_.tolist(), (cinst.image[c_] - lo).tolist(), keypoints.tolist(), np.round(cinst.bbox[c_], 3).tolist(),
            np.round(cinst.area[c_], 3).tolist(), con.support[c_].tolist(), con.quorum[c_].tolist(),
            con.accepted[c_].tolist(), _json_floats(con.spread[c_], 3), con.undecided[c_].tolist(),
        ):  # one per consensus object
            number = len(objects[img]) + 1  # as a person reads it: person 1, 2, ...
            missing = missed_by.get(c, [])
            objects[img].append({"support": support, "quorum": quorum, "accepted": accepted, "spread": spread,
                                 "undecided": undecided, "missed_by": missing})
            if missing:
                object_reasons[img].append(
                    f"person {number} was not drawn by annotator(s) {', '.join(map(str, missing))}, "
                    f"though {support} other annotator(s) agree it exists")
            if undecided:
                objects[img][-1]["orientation_from"] = followed.get(c, [])
                object_reasons[img].append(
                    f"left and right of person {number} are undecided: its annotators disagree and no third "
                    f"opinion settles it (orientation taken from annotator(s) "
                    f"{', '.join(map(str, followed.get(c, [])))}, the better swap record)")
            if accepted:
                consensus_instances[img].append({"bbox": box, "keypoints": kp, "area": area})
        keypoint_agreement = _json_floats(img_agree.keypoint[lo:hi])
        agreements = _none_if_nan(img_agree.agreement[lo:hi])
        visibility = _none_if_nan(img_agree.visibility[lo:hi])
        scored = []
        for j in range(size):
            i = lo + j
            decision, reasons, kind = _decide(
                project, ids[i], agreements[j], int(drawn[i]), int(rejected[i]), blocking_by_image[i],
                int(n_annotators[i]), object_reasons[j], pairwise[i])
            if rows.oversized[i]:  # scored on a truncated sample: a person decides
                decision = ConsensusResult.Decision.NEEDS_REVIEW
                cap = project.max_instances_per_image
                reasons = [*reasons, *(
                    f"annotator {user} drew {count} instances, over the project's limit of {cap}; "
                    f"only the first {cap} were scored" for user, count in rows.oversized[i].items())]
                flag_records[j].extend(
                    {"code": "too_many_instances", "annotator": user, "instances": count, "limit": cap}
                    for user, count in rows.oversized[i].items())
            flag_counts: dict[str, int] = {}
            for flag in flag_records[j]:
                flag_counts[flag["code"]] = flag_counts.get(flag["code"], 0) + 1
            scored.append({
                "image_id": ids[i], "kind": kind, "decision": decision, "agreement": agreements[j],
                "keypoint_agreement": keypoint_agreement[j], "visibility_agreement": visibility[j],
                "n_annotators": int(n_annotators[i]), "n_objects": len(consensus_instances[j]),
                "clusters": objects[j], "annotator_scores": {"per_annotator": per_image_annotator[i],
                                                             "pairwise": pairwise[i]},
                "flags": flag_records[j], "reasons": reasons, "inputs": rows.inputs[i], "flag_counts": flag_counts,
            })
        yield scored, dict(zip(ids[lo:hi], consensus_instances))


def score_project(project: Project, *, progress: Callable | None = None,
                  batch_size: int = RESCORE_BATCH) -> ProjectAgreement:
    """Re-score every scored image of a project together and store the project report.

    Scoring the whole project at once gives the checks the project's own
    limb-length distribution and the annotators' reliability over all their
    work; the report is what `/api/v1/projects/{id}/agreement/` serves. The
    rows are written in batches (see `_store`), with progress after each;
    the report is written last, so a report's presence means a finished run.
    """
    images_qs = Image.objects.filter(project=project, status__in=SCORED_STATUSES)
    done = _score(project, images_qs, progress, with_history=False, batch_size=batch_size)
    if done.result is None:
        report = {"images_scored": 0}
    else:
        spec = project.skeleton.spec()
        report = summarize(done.result, spec, names=spec.names, source_ids=done.rows.annotators).to_dict()
        report["decisions"] = {"auto_accepted": done.auto_accepted, "needs_review": done.needs_review}
        report["history"] = _history_record(done.result, done.rows.annotators)
        report["timings"] = {k: round(v, 3) for k, v in {**done.result.timings, **done.timings}.items()}
    agreement, _ = ProjectAgreement.objects.update_or_create(
        project=project, defaults={"report": report, "n_images": done.scored}
    )
    if progress:
        progress(1, 1, f"scored {done.scored} images")
    return agreement
