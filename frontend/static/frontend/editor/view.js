// The stage: where the image sits on screen (Viewport) and how it and the labels are drawn (Renderer).
// Three stacked canvases, so that dragging a point redraws only the instance being edited:
//   image  - the photo (redrawn on zoom and pan only),
//   static - every other instance, pre-label ghosts and reviewer pins,
//   active - the selected instance, its box and the box being drawn.

export const SIDE_COLORS = { left: "#ff8c1a", right: "#36a3ff", center: "#f2f2f2" };
const OUTLINE = "rgba(0,0,0,0.85)";
const POINT_RADIUS = 4.5; // screen px, whatever the zoom
const MIN_SCALE = 0.02;
const MAX_SCALE = 64;

/** An image fetched and decoded off the main thread, ready to draw at once. */
export function loadImage(url) {
  const image = new Image();
  image.decoding = "async";
  image.src = url;
  return image.decode().then(() => image);
}

/** image px -> screen px: screen = image * scale + offset (CSS px of the stage). */
export class Viewport {
  constructor() { this.scale = 1; this.tx = 0; this.ty = 0; this.width = 1; this.height = 1; }

  toImage(sx, sy) { return [(sx - this.tx) / this.scale, (sy - this.ty) / this.scale]; }
  toScreen(x, y) { return [x * this.scale + this.tx, y * this.scale + this.ty]; }

  fit(imageWidth, imageHeight, margin = 12) {
    const s = Math.min((this.width - 2 * margin) / imageWidth, (this.height - 2 * margin) / imageHeight);
    this.scale = Math.max(MIN_SCALE, Math.min(MAX_SCALE, s));
    this.tx = (this.width - imageWidth * this.scale) / 2;
    this.ty = (this.height - imageHeight * this.scale) / 2;
  }

  /** Zoom by `factor` keeping the image point under (sx, sy) where it is. */
  zoomAt(factor, sx, sy) {
    const scale = Math.max(MIN_SCALE, Math.min(MAX_SCALE, this.scale * factor));
    const [ix, iy] = this.toImage(sx, sy);
    this.scale = scale;
    this.tx = sx - ix * scale;
    this.ty = sy - iy * scale;
  }

  pan(dx, dy) { this.tx += dx; this.ty += dy; }
}

export class Renderer {
  constructor(stage, canvases, viewport) {
    this.stage = stage;
    this.viewport = viewport;
    this.layers = Object.fromEntries(Object.entries(canvases).map(([name, canvas]) => [name, { canvas, ctx: canvas.getContext("2d") }]));
    this.dirty = { image: true, static: true, active: true };
    this.frameTimes = []; // ms of drawing work per frame, read by bench/bench_editor.py
    this.onDrawn = null;
    this.scheduled = false;
    this.resize();
  }

  resize() {
    const rect = this.stage.getBoundingClientRect();
    this.dpr = window.devicePixelRatio || 1;
    this.viewport.width = rect.width;
    this.viewport.height = rect.height;
    for (const { canvas } of Object.values(this.layers)) {
      canvas.width = Math.round(rect.width * this.dpr);
      canvas.height = Math.round(rect.height * this.dpr);
    }
    this.invalidate("image", "static", "active");
  }

  invalidate(...layers) {
    for (const layer of layers) this.dirty[layer] = true;
    if (!this.scheduled) {
      this.scheduled = true;
      requestAnimationFrame(() => this.frame());
    }
  }

  frame() {
    this.scheduled = false;
    const t0 = performance.now();
    const drew = this.dirty.image;
    if (this.dirty.image) this.drawImage();
    if (this.dirty.static) this.drawStatic();
    if (this.dirty.active) this.drawActive();
    this.dirty = { image: false, static: false, active: false };
    this.frameTimes.push(performance.now() - t0);
    if (this.frameTimes.length > 5000) this.frameTimes.splice(0, 2500);
    if (drew && this.onDrawn) this.onDrawn();
  }

  clear(ctx) {
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  }

  drawImage() {
    const { ctx } = this.layers.image;
    this.clear(ctx);
    if (!this.image) return;
    const v = this.viewport;
    // Nearest-neighbour when magnified: each image pixel stays a crisp square at any zoom.
    ctx.imageSmoothingEnabled = v.scale < 1;
    ctx.setTransform(this.dpr * v.scale, 0, 0, this.dpr * v.scale, this.dpr * v.tx, this.dpr * v.ty);
    ctx.drawImage(this.image, 0, 0);
  }

  drawStatic() {
    const { ctx } = this.layers.static;
    this.clear(ctx);
    const labels = this.labels;
    if (!labels) return;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    if (this.ghosts) {
      ctx.globalAlpha = 0.55;
      ctx.setLineDash([4, 3]);
      for (const inst of this.ghosts) this.drawInstance(ctx, inst, false);
      ctx.setLineDash([]);
    }
    ctx.globalAlpha = 0.8;
    labels.instances.forEach((inst, i) => { if (i !== labels.selected.instance) this.drawInstance(ctx, inst, false); });
    ctx.globalAlpha = 1;
    this.drawPins(ctx);
  }

  drawActive() {
    const { ctx } = this.layers.active;
    this.clear(ctx);
    const labels = this.labels;
    if (!labels) return;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    const inst = labels.current;
    if (inst) this.drawInstance(ctx, inst, true, labels.selected.keypoint);
    if (this.rubberBand) this.drawBox(ctx, this.rubberBand, "#ffffff", [6, 4]);
  }

  drawBox(ctx, [x, y, w, h], color, dash = []) {
    const v = this.viewport;
    const [sx, sy] = v.toScreen(x, y);
    ctx.setLineDash(dash);
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.strokeRect(sx, sy, w * v.scale, h * v.scale);
    ctx.setLineDash([]);
  }

  /** One instance: edges by side, then points (filled = visible, ring = occluded), batched per colour. */
  drawInstance(ctx, inst, active, selectedKeypoint = -1) {
    const sk = this.labels.skeleton;
    const v = this.viewport;
    const kp = inst.keypoints;
    const s = v.scale, tx = v.tx, ty = v.ty;
    if (inst.bbox) this.drawBox(ctx, inst.bbox, active ? "#ffe14d" : "rgba(255,225,77,0.6)", active ? [] : [3, 3]);
    ctx.lineWidth = active ? 2 : 1.5;
    for (const side of ["left", "right", "center"]) {
      ctx.beginPath();
      for (const [a, b] of sk.edges) {
        if (kp[3 * a + 2] === 0 || kp[3 * b + 2] === 0) continue;
        const edgeSide = sk.side[a] === sk.side[b] ? sk.side[a] : "center";
        if (edgeSide !== side) continue;
        ctx.moveTo(kp[3 * a] * s + tx, kp[3 * a + 1] * s + ty);
        ctx.lineTo(kp[3 * b] * s + tx, kp[3 * b + 1] * s + ty);
      }
      ctx.strokeStyle = SIDE_COLORS[side];
      ctx.stroke();
    }
    const r = active ? POINT_RADIUS + 0.5 : POINT_RADIUS;
    for (const side of ["left", "right", "center"]) {
      const filled = new Path2D();
      const rings = new Path2D();
      for (let i = 0; i < sk.k; i++) {
        const vis = kp[3 * i + 2];
        if (vis === 0 || sk.side[i] !== side) continue;
        const x = kp[3 * i] * s + tx, y = kp[3 * i + 1] * s + ty;
        const path = vis === 2 ? filled : rings;
        path.moveTo(x + r, y);
        path.arc(x, y, r, 0, 2 * Math.PI);
      }
      ctx.fillStyle = SIDE_COLORS[side];
      ctx.fill(filled);
      ctx.lineWidth = 1;
      ctx.strokeStyle = OUTLINE;
      ctx.stroke(filled);
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = SIDE_COLORS[side];
      ctx.stroke(rings);
    }
    if (selectedKeypoint >= 0 && kp[3 * selectedKeypoint + 2] > 0) {
      const x = kp[3 * selectedKeypoint] * s + tx, y = kp[3 * selectedKeypoint + 1] * s + ty;
      ctx.beginPath();
      ctx.arc(x, y, r + 4, 0, 2 * Math.PI);
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#ffffff";
      ctx.stroke();
    }
  }

  /** Reviewer comments: a numbered pin at the comment's point, or at its keypoint. */
  drawPins(ctx) {
    if (!this.pins || !this.pins.length) return;
    const v = this.viewport;
    ctx.font = "bold 11px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    this.pins.forEach((pin, n) => {
      const at = pinPosition(pin, this.labels);
      if (!at) return;
      const [x, y] = v.toScreen(at[0], at[1]);
      ctx.beginPath();
      ctx.moveTo(x, y);
      ctx.lineTo(x + 8, y - 14);
      ctx.strokeStyle = "#e11d48";
      ctx.lineWidth = 2;
      ctx.stroke();
      ctx.beginPath();
      ctx.arc(x + 8, y - 20, 8, 0, 2 * Math.PI);
      ctx.fillStyle = "#e11d48";
      ctx.fill();
      ctx.fillStyle = "#fff";
      ctx.fillText(String(n + 1), x + 8, y - 20);
    });
  }
}

/** Where a reviewer comment points: its own x, y, else the commented keypoint's position. */
export function pinPosition(pin, labels) {
  if (pin.x != null && pin.y != null) return [pin.x, pin.y];
  const inst = labels && labels.instances[pin.instance];
  if (!inst || pin.keypoint == null) return null;
  const kp = inst.keypoints;
  return kp[3 * pin.keypoint + 2] > 0 ? [kp[3 * pin.keypoint], kp[3 * pin.keypoint + 1]] : null;
}
