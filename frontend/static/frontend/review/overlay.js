// What the QA lead looks at: every annotator's skeletons in their own colour, the consensus, each
// keypoint's spread as an ellipse beside its one-sigma circle, and the flags named where they were raised.
// Drawing only: review.js owns the task, the keys and the decisions. Edit mode hands the static and
// active layers back to the editor's Renderer (a copy of the consensus drawn and dragged as in the editor).

import { Renderer } from "../editor/view.js";

export const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#9a6324"];
export const CONSENSUS_COLOR = "#ffffff";
const FLAG_COLOR = "#ff2bd6";
export const FLAG_NAMES = {
  left_right_swap: "left/right swap", outside_image: "outside the image", outside_box: "outside the box",
  visibility_disagreement: "visibility disagreement", implausible_limb: "limb length", duplicate_instance: "duplicate",
};

/** Colour of a spread in sigmas: within one sigma green, within two amber, beyond red. */
export function spreadColor(sigmas) {
  return sigmas <= 1 ? "#4ade80" : sigmas <= 2 ? "#fbbf24" : "#ef4444";
}

/** Principal axes of 2-D points around a centre: [a, b, angle] (RMS along each axis, radians). */
export function scatterEllipse(points, cx, cy) {
  let sxx = 0, syy = 0, sxy = 0;
  for (const [x, y] of points) { sxx += (x - cx) ** 2; syy += (y - cy) ** 2; sxy += (x - cx) * (y - cy); }
  const n = Math.max(points.length, 1);
  sxx /= n; syy /= n; sxy /= n;
  const mean = (sxx + syy) / 2, diff = Math.sqrt(((sxx - syy) / 2) ** 2 + sxy * sxy);
  return [Math.sqrt(mean + diff), Math.sqrt(Math.max(mean - diff, 0)), 0.5 * Math.atan2(2 * sxy, sxx - syy)];
}

export class ReviewRenderer extends Renderer {
  constructor(stage, canvases, viewport) {
    super(stage, canvases, viewport);
    this.picture = null; // the review API's task picture
    this.visible = []; // per annotator (legend order)
    this.showConsensus = true;
    this.showSpread = true;
    this.editing = false;
    this.drawn = { flags: [], ellipses: [] }; // what the last frame drew, for tests and the panel
  }

  drawStatic() {
    if (this.editing) return super.drawStatic();
    const { ctx } = this.layers.static;
    this.clear(ctx);
    this.drawn = { flags: [], ellipses: [] };
    if (!this.picture) return;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    const p = this.picture;
    p.annotators.forEach((a, i) => {
      if (!this.visible[i]) return;
      for (const inst of a.instances) this.drawSkeleton(ctx, inst.keypoints, PALETTE[i % PALETTE.length], 1.5, 3.5);
    });
    if (this.showConsensus) {
      for (const inst of p.consensus.instances) this.drawSkeleton(ctx, inst.keypoints, CONSENSUS_COLOR, 2.5, 5, true);
    }
    if (this.showSpread) this.drawSpread(ctx);
    this.drawFlags(ctx);
    this.drawPins(ctx);
  }

  drawActive() {
    if (this.editing) return super.drawActive();
    this.clear(this.layers.active.ctx);
  }

  skeleton() {
    return this.picture.skeleton;
  }

  drawSkeleton(ctx, kp, color, width, radius, outlined = false) {
    const { edges } = this.picture.skeleton;
    const v = this.viewport;
    ctx.beginPath();
    for (const [a, b] of edges) {
      if (!kp[3 * a + 2] || !kp[3 * b + 2]) continue;
      const [x0, y0] = v.toScreen(kp[3 * a], kp[3 * a + 1]);
      const [x1, y1] = v.toScreen(kp[3 * b], kp[3 * b + 1]);
      ctx.moveTo(x0, y0);
      ctx.lineTo(x1, y1);
    }
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.stroke();
    const dots = new Path2D();
    for (let j = 0; 3 * j < kp.length; j++) {
      if (!kp[3 * j + 2]) continue;
      const [x, y] = v.toScreen(kp[3 * j], kp[3 * j + 1]);
      dots.moveTo(x + radius, y);
      dots.arc(x, y, radius, 0, 2 * Math.PI);
    }
    ctx.fillStyle = color;
    ctx.fill(dots);
    if (outlined) {
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = "rgba(0,0,0,0.9)";
      ctx.stroke(dots);
    }
  }

  /**
   * Per consensus keypoint: the annotators' scatter around it as an ellipse (RMS along its principal axes),
   * and dashed, the circle OKS calls one sigma at this object's scale (sqrt(area) * sigma_k), so an ellipse
   * inside its circle is agreement COCO's own annotators would have matched. Coloured by the spread the
   * scoring computed, in sigmas.
   */
  drawSpread(ctx) {
    const p = this.picture;
    const k = p.skeleton.names.length;
    // The accepted objects, in order, are the consensus instances; each names the annotator instances
    // that joined it (a mirrored one counts with its left and right exchanged, as the scoring counted it).
    const objects = p.consensus.objects.filter((o) => o.accepted);
    const labelsOf = new Map(p.annotators.map((a) => [a.annotator.id, a.instances]));
    const partner = p.skeleton.names.map((_, j) => j);
    for (const [a, b] of p.skeleton.flip_pairs) { partner[a] = b; partner[b] = a; }
    const v = this.viewport;
    p.consensus.instances.forEach((c, ci) => {
      const spread = (objects[ci] && objects[ci].spread) || [];
      const scale = Math.sqrt(c.area || 0);
      for (let j = 0; j < k; j++) {
        if (!c.keypoints[3 * j + 2] || spread[j] == null) continue;
        const cx = c.keypoints[3 * j], cy = c.keypoints[3 * j + 1];
        const points = [];
        for (const member of (objects[ci] && objects[ci].members) || []) {
          const inst = (labelsOf.get(member.annotator) || [])[member.instance];
          const jj = member.flipped ? partner[j] : j;
          if (inst && inst.keypoints[3 * jj + 2] > 0) points.push([inst.keypoints[3 * jj], inst.keypoints[3 * jj + 1]]);
        }
        const [ra, rb, angle] = scatterEllipse(points, cx, cy);
        const oneSigma = scale * p.skeleton.sigmas[j];
        const [sx, sy] = v.toScreen(cx, cy);
        const color = spreadColor(spread[j]);
        ctx.strokeStyle = color;
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.ellipse(sx, sy, Math.max(ra * v.scale, 2), Math.max(rb * v.scale, 2), angle, 0, 2 * Math.PI);
        ctx.stroke();
        ctx.setLineDash([3, 3]);
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.arc(sx, sy, Math.max(oneSigma * v.scale, 1), 0, 2 * Math.PI);
        ctx.stroke();
        ctx.setLineDash([]);
        this.drawn.ellipses.push({ object: ci, keypoint: p.skeleton.names[j], spread: spread[j], axes: [ra, rb], one_sigma: oneSigma, points: points.length });
      }
    });
  }

  /** Each flag raised on a shown annotator's labels: a ring on its keypoints (or a box round the instance) and its name. */
  drawFlags(ctx) {
    const p = this.picture;
    const v = this.viewport;
    ctx.font = "bold 12px system-ui, sans-serif";
    ctx.textBaseline = "bottom";
    for (const flag of p.flags) {
      const ai = p.annotators.findIndex((a) => a.annotator.id === flag.annotator);
      if (ai < 0 || !this.visible[ai]) continue;
      const inst = p.annotators[ai].instances[flag.instance];
      if (!inst) continue;
      const names = [flag.keypoint, flag.other_keypoint].filter((n) => n != null);
      const points = [];
      for (const name of names) {
        const j = p.skeleton.names.indexOf(name);
        if (j >= 0 && inst.keypoints[3 * j + 2] > 0) points.push([inst.keypoints[3 * j], inst.keypoints[3 * j + 1]]);
      }
      ctx.strokeStyle = FLAG_COLOR;
      ctx.fillStyle = FLAG_COLOR;
      ctx.lineWidth = 2.5;
      let label;
      if (points.length) {
        for (const [x, y] of points) {
          const [sx, sy] = v.toScreen(x, y);
          ctx.beginPath();
          ctx.arc(sx, sy, 9, 0, 2 * Math.PI);
          ctx.stroke();
        }
        label = v.toScreen(points[0][0], points[0][1]);
        label = [label[0] + 11, label[1] - 8];
      } else {
        const box = inst.bbox;
        if (!box) continue;
        const [sx, sy] = v.toScreen(box[0], box[1]);
        ctx.setLineDash([6, 3]);
        ctx.strokeRect(sx, sy, box[2] * v.scale, box[3] * v.scale);
        ctx.setLineDash([]);
        label = [sx + 2, sy - 2];
      }
      const text = `${FLAG_NAMES[flag.code] || flag.code} (${ai + 1})`;
      ctx.lineWidth = 3;
      ctx.strokeStyle = "rgba(0,0,0,0.85)";
      ctx.strokeText(text, label[0], label[1]);
      ctx.fillText(text, label[0], label[1]);
      this.drawn.flags.push({ code: flag.code, annotator: flag.annotator, instance: flag.instance, keypoints: names, points });
    }
  }
}
