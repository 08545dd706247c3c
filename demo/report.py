"""What the demo proves, measured against the truth only the demo knows.

`measure` returns the numbers (the test asserts on them); `render` prints
them. Closeness to the truth is OKS against the rendered truth, the very
function that scores gold (`review.services.gold.score_against_gold`), so
1.0 is perfect and COCO's annotators score about 0.9 against each other.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from annotation.models import Annotation, Assignment, Image, Project, ProjectAnnotator
from review.models import ConsensusResult, ReviewDecision, ReviewTask
from review.selectors import annotator_quality
from review.services.gold import score_against_gold

from .models import TrueLabel
from .people import CAST

Source = Annotation.Source
HIP_NAMES = ("left_hip", "right_hip")


def measure(project: Project) -> dict:
    spec = project.skeleton.spec()
    truth = dict(TrueLabel.objects.filter(image__project=project, image__is_gold=False)
                 .values_list("image_id", "instances"))
    rows = Annotation.objects.filter(image_id__in=list(truth), source__in=[Source.ANNOTATOR, Source.CONSENSUS]) \
        .exclude(source=Source.ANNOTATOR, assignments__state=Assignment.State.REJECTED) \
        .values_list("image_id", "source", "annotator__username", "instances")
    per_person: dict[str, list[float]] = defaultdict(list)
    consensus: list[float] = []
    for image_id, source, username, instances in rows:
        oks = score_against_gold(truth[image_id], instances, spec)["oks"]
        (consensus if source == Source.CONSENSUS else per_person[username]).append(oks)
    annotators = {name: float(np.mean(v)) for name, v in per_person.items()}
    quality = {row["annotator"]["username"]: row for row in annotator_quality(Assignment.objects.filter(project=project))}
    flags = _flags_per_100(project)
    return {
        "consensus_oks": float(np.mean(consensus)) if consensus else None,
        "consensus_images": len(consensus),
        "annotator_oks": annotators,
        "median_annotator_oks": float(np.median(list(annotators.values()))) if annotators else None,
        "flags": flags,
        "quality": quality,
        "caught": _caught(project, quality, flags),
        "images": _image_counts(project),
    }


def _flags_per_100(project: Project) -> dict[str, dict[str, float]]:
    """Automatic flags raised on each annotator's instances, per code, per 100 images they had scored."""
    counts: dict[int, Counter] = defaultdict(Counter)
    scored: Counter = Counter()
    for flags, scores in ConsensusResult.objects.filter(project=project).values_list("flags", "annotator_scores"):
        for user_id in (scores or {}).get("per_annotator", {}):
            scored[int(user_id)] += 1
        for flag in flags:
            counts[int(flag["annotator"])][flag["code"]] += 1
    names = dict(ProjectAnnotator.objects.filter(project=project).values_list("user_id", "user__username"))
    return {names[u]: {code: round(100 * n / scored[u], 1) for code, n in c.items()} for u, c in counts.items()
            if u in names and scored[u]}


def _caught(project: Project, quality: dict, flags: dict) -> dict[str, str | None]:
    """Per behaviour: the number that gave it away, or None when the quality numbers missed it."""
    production = {name: row for name, row in quality.items() if row["scored_images"]}

    def worst(metric, name):
        values = {n: r[metric] for n, r in production.items() if r[metric] is not None}
        return name in values and min(values, key=values.get) == name

    def most(code, name):
        rates = {n: f.get(code, 0.0) for n, f in flags.items() if n in production}
        return rates.get(name, 0.0) > 0 and max(rates, key=rates.get) == name

    caught: dict[str, str | None] = {}
    for b in CAST:
        row, name = production.get(b.username), b.username
        if b.username == "ann_unqualified":
            staffing = ProjectAnnotator.objects.filter(project=project, user__username=name).first()
            reached = Assignment.objects.filter(project=project, annotator__username=name, image__is_gold=False).count()
            caught[name] = (f"qualification {staffing.qualification} (mean gold OKS "
                            f"{(staffing.qualification_result or {}).get('mean_oks')}); production tasks: {reached}"
                            if staffing and staffing.qualification == "failed" else None)
        elif b.hip_shift:
            hips = [f for f in (row or {}).get("keypoint_bias", []) if f["keypoint"] in HIP_NAMES and f["dy_sigmas"] < 0]
            caught[name] = "; ".join(f"{f['keypoint']} {f['dy_sigmas']:+.1f} sigma in y (up)" for f in hips) or None
        elif b.swap_rate:
            caught[name] = (f"left_right_swap flags {flags[name]['left_right_swap']} per 100 images, the most of anyone"
                            if most("left_right_swap", name) else None)
        elif b.skip_occluded:
            caught[name] = (f"visibility_disagreement flags {flags[name]['visibility_disagreement']} per 100 images, "
                            "the most of anyone" if most("visibility_disagreement", name) else None)
        elif b.noise >= 1.5:
            caught[name] = (f"lowest leave-one-out OKS ({row['loo_oks']})" if worst("loo_oks", name) else None)
    return caught


def _image_counts(project: Project) -> dict:
    images = Image.objects.filter(project=project, is_gold=False)
    tasks = ReviewTask.objects.filter(project=project)
    return {
        "production": images.count(),
        "gold": Image.objects.filter(project=project, is_gold=True).count(),
        "accepted": images.filter(status=Image.Status.ACCEPTED).count(),
        "auto_accepted": ConsensusResult.objects.filter(project=project, decision="auto_accepted").count(),
        "extra_replicas": images.filter(extra_replicas__gt=0).count(),
        "needed_a_human": tasks.exclude(kind=ReviewTask.Kind.SPOT_CHECK).values("image").distinct().count(),
        "spot_checks": tasks.filter(kind=ReviewTask.Kind.SPOT_CHECK).count(),
        "decided_by_qa_lead": ReviewDecision.objects.filter(project=project).count(),
        "left_in_queue": tasks.filter(state=ReviewTask.State.OPEN).count(),
    }


def render(numbers: dict, cast_labels: dict[str, str]) -> list[str]:
    """The report as lines of text."""
    lines = ["", "How close each one came to the truth (mean OKS against the rendered truth, 1.0 = exact):"]
    for name, label in cast_labels.items():
        oks = numbers["annotator_oks"].get(name)
        lines.append(f"  {name:<16} {label:<34} {'-' if oks is None else f'{oks:.3f}'}")
    c = numbers["consensus_oks"]
    lines.append(f"  {'consensus':<16} {'(the product, ' + str(numbers['consensus_images']) + ' images)':<34} "
                 f"{'-' if c is None else f'{c:.3f}'}   median annotator {numbers['median_annotator_oks'] or 0:.3f}")
    lines += ["", "What the quality numbers caught:"]
    for name, how in numbers["caught"].items():
        lines.append(f"  {name:<16} {cast_labels[name]:<34} {how or 'NOT caught'}")
    n = numbers["images"]
    lines += [
        "", f"Images: {n['production']} to label ({n['gold']} gold); {n['auto_accepted']} auto-accepted, "
        f"{n['extra_replicas']} got extra annotators (adaptive replicas), {n['needed_a_human']} needed a human "
        f"(+{n['spot_checks']} spot checks); the simulated QA lead decided {n['decided_by_qa_lead']}, "
        f"{n['left_in_queue']} wait in the review queue for you.",
    ]
    return lines
