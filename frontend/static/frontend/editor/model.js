// The labels being edited, in image pixels, and every change to them (each one undoable).
// No DOM here: the workspace calls these and redraws.

export const NOT_LABELED = 0;
export const OCCLUDED = 1;
export const VISIBLE = 2;
/** Padding of a box derived from keypoints: this share of the larger side of their extent, at least MIN px. */
export const BOX_PADDING = 0.1;
export const BOX_PADDING_MIN = 4;

/** The skeleton as the editor draws it: indices instead of names, and a side per keypoint. */
export class Skeleton {
  constructor(payload) {
    this.names = payload.keypoints.map((kp) => kp.name);
    this.k = this.names.length;
    const index = new Map(this.names.map((n, i) => [n, i]));
    this.edges = (payload.edges || []).map(([a, b]) => [index.get(a), index.get(b)]).filter(([a, b]) => a !== undefined && b !== undefined);
    this.flip = payload.keypoints.map((kp, i) => (kp.flip_partner && index.has(kp.flip_partner) ? index.get(kp.flip_partner) : i));
    this.side = this.names.map((name) => sideOf(name));
    this.colors = payload.keypoints.map((kp) => kp.color || null);
  }
}

function sideOf(name) {
  const n = name.toLowerCase();
  if (/^(left|l_|l-)|_left$|^left/.test(n)) return "left";
  if (/^(right|r_|r-)|_right$/.test(n)) return "right";
  return "center";
}

/** One object: keypoints as [x, y, v] * K, its box ([x, y, w, h] or null: derived on submit). */
export function emptyInstance(k) {
  return { keypoints: new Array(3 * k).fill(0), bbox: null, skipped: new Array(k).fill(false) };
}

function cloneInstances(instances) {
  return instances.map((inst) => ({ keypoints: inst.keypoints.slice(), bbox: inst.bbox && inst.bbox.slice(), skipped: inst.skipped.slice() }));
}

export class Labels {
  constructor(skeleton, width, height) {
    this.skeleton = skeleton;
    this.width = width;
    this.height = height;
    this.instances = [];
    this.selected = { instance: -1, keypoint: -1 };
    this.undoStack = [];
    this.redoStack = [];
    this.version = 0; // bumps on every change: autosave and redraw watch it
  }

  // --- history ---------------------------------------------------------------
  snapshot() {
    return { instances: cloneInstances(this.instances), selected: { ...this.selected } };
  }

  /** Run `change` as one undoable step. */
  change(change) {
    const before = this.snapshot();
    const result = change();
    if (result === false) return false;
    this.undoStack.push(before);
    if (this.undoStack.length > 500) this.undoStack.shift();
    this.redoStack = [];
    this.version++;
    return true;
  }

  /** Start a gesture (a drag): one undo step however many moves follow. */
  beginGesture() { this.pending = this.snapshot(); }
  endGesture(changed) {
    if (this.pending && changed) {
      this.undoStack.push(this.pending);
      this.redoStack = [];
    }
    this.pending = null;
  }

  undo() { return this.swap(this.undoStack, this.redoStack); }
  redo() { return this.swap(this.redoStack, this.undoStack); }
  swap(from, to) {
    if (!from.length) return false;
    to.push(this.snapshot());
    const state = from.pop();
    this.instances = state.instances;
    this.selected = state.selected;
    this.version++;
    return true;
  }

  // --- reading -----------------------------------------------------------------
  get current() { return this.instances[this.selected.instance] || null; }

  /** The first keypoint, in skeleton order, neither labeled nor skipped; -1 when none is left. */
  nextUnlabeled(inst = this.current) {
    if (!inst) return 0;
    for (let i = 0; i < this.skeleton.k; i++) if (inst.keypoints[3 * i + 2] === 0 && !inst.skipped[i]) return i;
    return -1;
  }

  /** The labeled keypoint nearest (x, y) within `radius` image px: {instance, keypoint} or null. */
  hit(x, y, radius) {
    let best = null;
    let bestD = radius * radius;
    // The selected instance wins ties: it is drawn on top.
    const order = this.instances.map((_, i) => i).sort((a, b) => (a === this.selected.instance) - (b === this.selected.instance));
    for (const i of order) {
      const kp = this.instances[i].keypoints;
      for (let j = 0; j < this.skeleton.k; j++) {
        if (kp[3 * j + 2] === 0) continue;
        const dx = kp[3 * j] - x;
        const dy = kp[3 * j + 1] - y;
        const d = dx * dx + dy * dy;
        if (d <= bestD) { bestD = d; best = { instance: i, keypoint: j }; }
      }
    }
    return best;
  }

  // --- changes -----------------------------------------------------------------
  /** A click: the next unlabeled keypoint of the selected instance goes to (x, y), visible. */
  place(x, y) {
    return this.change(() => {
      if (!this.current) this.addInstance();
      const j = this.nextUnlabeled();
      if (j < 0) return false;
      const kp = this.current.keypoints;
      kp[3 * j] = x; kp[3 * j + 1] = y; kp[3 * j + 2] = VISIBLE;
      this.current.skipped[j] = false;
      this.selected.keypoint = j;
      return true;
    });
  }

  /**
   * A press on the stage: grab the labeled keypoint under (x, y), else place the next unlabeled one
   * there. Returns what is grabbed ({instance, keypoint, placed}) with a gesture open, so that dragging
   * moves it as one undo step (endGesture closes it); null when there was nothing to grab or place.
   */
  press(x, y, radius) {
    const hit = this.hit(x, y, radius);
    if (hit) {
      this.select(hit.instance, hit.keypoint);
      this.beginGesture();
      return { ...hit, placed: false };
    }
    if (!this.place(x, y)) return null;
    this.beginGesture();
    return { ...this.selected, placed: true };
  }

  /** During a drag: no history entry (the gesture makes one). */
  moveTo(instance, keypoint, x, y) {
    const kp = this.instances[instance].keypoints;
    kp[3 * keypoint] = x; kp[3 * keypoint + 1] = y;
    this.version++;
  }

  setVisibility(v) {
    const inst = this.current;
    const j = this.selected.keypoint;
    if (!inst || j < 0) return false;
    const kp = inst.keypoints;
    if (kp[3 * j + 2] === v) return false;
    if (kp[3 * j + 2] === 0 && v !== 0) return false; // place it first: a point needs a position
    return this.change(() => {
      kp[3 * j + 2] = v;
      if (v === 0) { kp[3 * j] = 0; kp[3 * j + 1] = 0; }
    });
  }

  /** Leave the next keypoint not labeled and move on to the one after. */
  skip() {
    return this.change(() => {
      if (!this.current) this.addInstance();
      const j = this.nextUnlabeled();
      if (j < 0) return false;
      this.current.skipped[j] = true;
      return true;
    });
  }

  /** Exchange every flip pair of the selected instance (left wrist <-> right wrist, ...). */
  flip() {
    const inst = this.current;
    if (!inst) return false;
    return this.change(() => {
      const old = inst.keypoints.slice();
      const oldSkipped = inst.skipped.slice();
      this.skeleton.flip.forEach((partner, i) => {
        for (let c = 0; c < 3; c++) inst.keypoints[3 * i + c] = old[3 * partner + c];
        inst.skipped[i] = oldSkipped[partner];
      });
      if (this.selected.keypoint >= 0) this.selected.keypoint = this.skeleton.flip[this.selected.keypoint];
    });
  }

  addInstance() {
    this.instances.push(emptyInstance(this.skeleton.k));
    this.selected = { instance: this.instances.length - 1, keypoint: -1 };
  }

  newInstance() { return this.change(() => this.addInstance()); }

  deleteInstance() {
    if (!this.current) return false;
    return this.change(() => {
      this.instances.splice(this.selected.instance, 1);
      this.selected = { instance: Math.min(this.selected.instance, this.instances.length - 1), keypoint: -1 };
    });
  }

  setBox(box) {
    const inst = this.current;
    if (!inst) return false;
    return this.change(() => { inst.bbox = clampBox(box, this.width, this.height); });
  }

  deriveBox() {
    const inst = this.current;
    const box = inst && derivedBox(inst.keypoints, this.width, this.height);
    return box ? this.change(() => { inst.bbox = box; }) : false;
  }

  /** Tab / Shift+Tab: walk the keypoints of the selected instance (labeled or not). */
  cycleKeypoint(step) {
    if (!this.current) return false;
    const k = this.skeleton.k;
    const from = this.selected.keypoint < 0 ? (step > 0 ? -1 : 0) : this.selected.keypoint;
    this.selected.keypoint = (from + step + k) % k;
    this.version++;
    return true;
  }

  cycleInstance(step) {
    const n = this.instances.length;
    if (!n) return false;
    this.selected = { instance: (this.selected.instance + step + n) % n, keypoint: -1 };
    this.version++;
    return true;
  }

  select(instance, keypoint) {
    this.selected = { instance, keypoint };
    this.version++;
  }

  /** Replace everything (pre-labels accepted): one undoable step. */
  replaceAll(instances) {
    return this.change(() => {
      this.instances = instances.map((inst) => fromSubmitted(inst, this.skeleton.k));
      this.selected = { instance: this.instances.length ? 0 : -1, keypoint: -1 };
    });
  }

  // --- in and out ----------------------------------------------------------------
  /** What the submit endpoint takes; instances with nothing on them are left out. */
  toSubmit() {
    const out = [];
    for (const inst of this.instances) {
      const labeled = inst.keypoints.some((_, i) => i % 3 === 2 && inst.keypoints[i] > 0);
      if (!labeled && !inst.bbox) continue;
      const box = inst.bbox || derivedBox(inst.keypoints, this.width, this.height);
      out.push({ bbox: box.map(round3), keypoints: inst.keypoints.map((c, i) => (i % 3 === 2 ? c : round3(c))) });
    }
    return out;
  }

  toDraft() {
    return { format: "jointly-editor-1", instances: cloneInstances(this.instances), selected: this.selected };
  }

  loadDraft(draft) {
    const k = this.skeleton.k;
    const list = Array.isArray(draft) ? draft : draft && draft.instances;
    if (!Array.isArray(list)) return false;
    this.instances = list.filter((inst) => inst && Array.isArray(inst.keypoints) && inst.keypoints.length === 3 * k)
      .map((inst) => ({ ...fromSubmitted(inst, k), skipped: Array.isArray(inst.skipped) && inst.skipped.length === k ? inst.skipped.slice() : new Array(k).fill(false) }));
    const sel = draft && draft.selected;
    this.selected = sel && sel.instance < this.instances.length ? { ...sel } : { instance: this.instances.length ? 0 : -1, keypoint: -1 };
    this.version++;
    return true;
  }
}

export function fromSubmitted(inst, k) {
  const kps = (inst.keypoints || []).slice(0, 3 * k).map(Number);
  while (kps.length < 3 * k) kps.push(0);
  return { keypoints: kps, bbox: Array.isArray(inst.bbox) && inst.bbox.length === 4 ? inst.bbox.map(Number) : null, skipped: new Array(k).fill(false) };
}

/** The box around the labeled keypoints plus padding, inside the image; null when none is labeled. */
export function derivedBox(keypoints, width, height) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let i = 0; i < keypoints.length; i += 3) {
    if (keypoints[i + 2] === 0) continue;
    x0 = Math.min(x0, keypoints[i]); x1 = Math.max(x1, keypoints[i]);
    y0 = Math.min(y0, keypoints[i + 1]); y1 = Math.max(y1, keypoints[i + 1]);
  }
  if (x0 === Infinity) return [0, 0, 0, 0];
  const pad = Math.max(BOX_PADDING_MIN, BOX_PADDING * Math.max(x1 - x0, y1 - y0));
  return clampBox([x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad], width, height);
}

function clampBox([x, y, w, h], width, height) {
  if (w < 0) { x += w; w = -w; }
  if (h < 0) { y += h; h = -h; }
  const x0 = Math.max(0, x), y0 = Math.max(0, y);
  const x1 = Math.min(width, x + w), y1 = Math.min(height, y + h);
  return [x0, y0, Math.max(0, x1 - x0), Math.max(0, y1 - y0)];
}

function round3(v) { return Math.round(v * 1000) / 1000; }
