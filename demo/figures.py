"""Rendered human-like figures with known COCO-17 keypoints: the demo's dataset, made on the spot.

A figure is the COCO template of review/agreement/simulate.py (a frontal
person in units of body height) with its arms and legs swung about the
shoulders and hips, tilted, scaled, placed and sometimes seen from behind;
Pillow draws limbs as thick lines along the skeleton's edges, a torso and a
head. Later figures and an optional crate in front occlude earlier ones: a
keypoint under something drawn later is v=1 (occluded, position still
true), one outside the image v=0. No download, no randomness outside the
seed: the same seed renders the same bytes, so a second run registers
nothing new (images are content-addressed).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from review.agreement.simulate import COCO_TEMPLATE

WIDTH, HEIGHT = 640, 480
#: COCO-17 limbs drawn as thick lines (0-based keypoint index pairs), torso drawn as a polygon.
LIMBS = ((5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16), (5, 6), (11, 12))
TORSO = (5, 6, 12, 11)
ARMS = (((5, 7, 9), 1.0), ((6, 8, 10), -1.0))  # (shoulder, elbow, wrist), side sign in the template's x
LEGS = (((11, 13, 15), 1.0), ((12, 14, 16), -1.0))


@dataclass(frozen=True)
class Scene:
    """One rendered image: JPEG bytes and its true instances (COCO: bbox and 17 x (x, y, v))."""

    name: str
    jpeg: bytes
    instances: list[dict]


def _swing(pose: np.ndarray, chain: tuple[int, int, int], angle: float, bend: float) -> None:
    """Rotate a limb chain (root, middle, end) about its root by `angle`, then its end about the middle by `bend`."""
    def rot(points, center, a):
        c, s = np.cos(a), np.sin(a)
        d = points - center
        return center + d @ np.array([[c, s], [-s, c]])
    root, mid, end = chain
    pose[[mid, end]] = rot(pose[[mid, end]], pose[root], angle)
    pose[end] = rot(pose[end][None], pose[mid], bend)[0]


def random_pose(rng: np.random.Generator) -> np.ndarray:
    """A (17, 2) pose in units of body height, centered: arms and legs swung, tilted, maybe seen from behind."""
    pose = COCO_TEMPLATE.copy() + rng.normal(0, 0.008, COCO_TEMPLATE.shape)
    for chain, side in ARMS:
        _swing(pose, chain, side * rng.uniform(-0.6, 2.2), side * rng.uniform(-1.4, 0.3))
    for chain, side in LEGS:
        _swing(pose, chain, side * rng.uniform(-0.25, 0.5), side * rng.uniform(-0.9, 0.1))
    tilt = rng.normal(0, 0.12)
    c, s = np.cos(tilt), np.sin(tilt)
    pose = pose @ np.array([[c, s], [-s, c]])
    if rng.random() < 0.25:  # seen from behind: the person's left is on the image left
        pose[:, 0] *= -1
    return pose


def _background(rng: np.random.Generator) -> Image.Image:
    """A vertical color ramp (one column, stretched) with some clutter: walls, windows, boxes."""
    top, bottom = rng.integers(40, 230, 3), rng.integers(40, 230, 3)
    ramp = np.linspace(0, 1, HEIGHT)[:, None, None]
    column = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)  # (HEIGHT, 1, 3)
    canvas = Image.fromarray(column, "RGB").resize((WIDTH, HEIGHT))
    draw = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(2, 7)):
        x, y = rng.integers(0, WIDTH), rng.integers(0, HEIGHT)
        w, h = rng.integers(30, 220), rng.integers(20, 160)
        draw.rectangle((x, y, x + w, y + h), fill=tuple(int(v) for v in rng.integers(30, 240, 3)))
    return canvas


def _draw_figure(draw: ImageDraw.ImageDraw, xy: np.ndarray, height: float, skin, cloth, fill=None) -> None:
    """Draw one figure; with `fill` every part in that one value (the figure's mask)."""
    width = max(3, int(height * 0.045))
    pts = [tuple(p) for p in xy.tolist()]
    draw.polygon([pts[i] for i in TORSO], fill=fill or cloth)
    for a, b in LIMBS:
        draw.line((pts[a], pts[b]), fill=fill or (cloth if a in (11, 12, 13, 14) else skin), width=width)
    for j in (7, 8, 9, 10, 13, 14, 15, 16):
        r = width / 2
        draw.ellipse((pts[j][0] - r, pts[j][1] - r, pts[j][0] + r, pts[j][1] + r), fill=fill or skin)
    head = 0.075 * height
    nose = xy[0]
    draw.ellipse((nose[0] - head * 0.8, nose[1] - head, nose[0] + head * 0.8, nose[1] + head * 0.7), fill=fill or skin)
    if fill is None:
        for j in (1, 2):  # eyes, so there is something to click
            r = max(1.0, height * 0.006)
            draw.ellipse((pts[j][0] - r, pts[j][1] - r, pts[j][0] + r, pts[j][1] + r), fill=(20, 20, 20))


def render_scene(seed: int, *, people: tuple[int, int] = (1, 3), occluder_rate: float = 0.3) -> Scene:
    """Render image `seed`: 1-3 figures of varied size, overlapping, sometimes behind a crate."""
    rng = np.random.default_rng(seed)
    canvas = _background(rng)
    draw = ImageDraw.Draw(canvas)
    n = int(rng.integers(people[0], people[1] + 1))
    heights = rng.uniform(140, 420, n)
    figures = []
    for h in sorted(heights):  # small (far) figures first: nearer ones are drawn over them
        pose = random_pose(rng)
        center = np.array([rng.uniform(0.15, 0.85) * WIDTH, rng.uniform(0.35, 0.7) * HEIGHT])
        figures.append((center + pose * h, float(h)))
    masks = []
    for xy, h in figures:
        skin = tuple(int(v) for v in rng.integers(150, 240, 3))
        cloth = tuple(int(v) for v in rng.integers(20, 200, 3))
        _draw_figure(draw, xy, h, skin, cloth)
        mask = Image.new("L", (WIDTH, HEIGHT), 0)
        _draw_figure(ImageDraw.Draw(mask), xy, h, None, None, fill=255)
        masks.append(np.asarray(mask) > 0)
    crate = None
    if rng.random() < occluder_rate:
        x, y = rng.uniform(0, WIDTH - 120), rng.uniform(HEIGHT * 0.45, HEIGHT - 60)
        crate = (x, y, x + rng.uniform(90, 220), y + rng.uniform(60, 160))
        draw.rectangle(crate, fill=(120, 85, 45), outline=(60, 40, 20), width=4)
    instances = []
    for index, (xy, h) in enumerate(figures):
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < WIDTH) & (xy[:, 1] >= 0) & (xy[:, 1] < HEIGHT)
        px = np.clip(xy.astype(int), 0, [WIDTH - 1, HEIGHT - 1])
        covered = np.zeros(17, bool)
        for later in masks[index + 1:]:
            covered |= later[px[:, 1], px[:, 0]]
        if crate is not None:
            covered |= (xy[:, 0] >= crate[0]) & (xy[:, 0] <= crate[2]) & (xy[:, 1] >= crate[1]) & (xy[:, 1] <= crate[3])
        v = np.where(inside, np.where(covered, 1, 2), 0)
        if (v == 2).sum() < 4:
            continue  # hardly visible: nobody would be asked to label it, so it is not part of the truth
        lo = np.clip(xy[inside].min(0) - 0.05 * h, 0, [WIDTH, HEIGHT])
        hi = np.clip(xy[inside].max(0) + 0.05 * h, 0, [WIDTH, HEIGHT])
        keypoints = []
        for (x, y), vis in zip(np.round(xy, 2).tolist(), v.tolist()):
            keypoints += [x, y, vis] if vis else [0.0, 0.0, 0]
        instances.append({"bbox": [round(float(c), 2) for c in (*lo, *(hi - lo))], "keypoints": keypoints})
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=88)
    return Scene(name=f"figures_{seed:05d}.jpg", jpeg=buffer.getvalue(), instances=instances)
