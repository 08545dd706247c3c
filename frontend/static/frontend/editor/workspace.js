// The annotator workspace: wires the model (labels), the stage (view) and the API together.
// Keyboard first: every action below has a key (keys.js, from frontend/keymap.py) and a button.

import { api } from "./api.js";
import { Keymap, comboOf, pretty } from "./keys.js";
import { LABEL_EDITS } from "./actions.js";
import { Labels, Skeleton, fromSubmitted } from "./model.js";
import { ActiveClock, formatDuration, localCopy } from "./session.js";
import { LeasedAhead } from "./lease_ahead.js";
import { Renderer, Viewport, loadImage, pinPosition } from "./view.js";

const config = JSON.parse(document.getElementById("workspace-config").textContent);
const $ = (id) => document.getElementById(id);

const AUTOSAVE_MS = 3000;
const HIT_RADIUS_PX = 9;
const ZOOM_STEP = 1.25;
/** How long after a task appears the next one is leased ahead and its image fetched. */
const AHEAD_DELAY_MS = 300;
/** How LeasedAhead reads a task (tasks/next's answer). */
const TASK = { id: (task) => task.id, expires: (task) => task.lease_expires_at, imageUrl: (task) => task.image.url };

function humanName(name) { return name.replace(/[_-]+/g, " "); }

class Workspace {
  constructor() {
    this.keymap = new Keymap(config.keymap, config.user.id);
    this.viewport = new Viewport();
    this.stage = $("stage");
    this.renderer = new Renderer(this.stage, { image: $("layer-image"), static: $("layer-static"), active: $("layer-active") }, this.viewport);
    this.clock = new ActiveClock(config.project.idle_limit_seconds);
    this.task = null;
    this.labels = null;
    this.instructions = null;
    this.timings = []; // submit -> next image drawn, ms (bench/bench_editor.py reads them)
    this.requests = []; // what the page asked the API, in order (the browser tests read it)
    this.bindButtons();
    this.bindStage();
    this.bindKeys();
    this.bindLifecycle();
    this.renderShortcutTable();
    setInterval(() => this.tickClock(), 1000);
  }

  // --- tasks -------------------------------------------------------------------------
  async start() {
    if (config.project.has_instructions) {
      const instructions = await this.loadInstructions();
      if (instructions && !instructions.acknowledged) return this.showInstructions(true);
    }
    return this.takeNext();
  }

  async takeNext() {
    let result;
    try {
      result = await this.call("POST", config.urls.next);
    } catch (error) {
      if (error.status === 409 && error.body.errors && error.body.errors.instructions) {
        this.instructions = null;
        await this.loadInstructions();
        return this.showInstructions(true);
      }
      return this.showError(error.message);
    }
    if (result.status === 204) {
      return this.showMessage("Nothing left to label", "Every image of this project that needs you has been labeled. Thank you!");
    }
    const task = result.body;
    const image = await loadImage(task.image.url);
    this.show(task, image);
  }

  /** Put a task on screen: its own labels when `kept` carries them (a task come back to), else its draft. */
  show(task, image, kept = null) {
    this.shownAt = performance.now();
    this.task = task;
    this.leaseLost = false;
    this.clearError();
    let labels = kept && kept.labels;
    let restored = "";
    if (!labels) {
      labels = new Labels(new Skeleton(task.skeleton), task.image.width, task.image.height);
      const local = localCopy.load(task.id);
      const serverDraft = task.draft;
      if (local && local.draft && (!serverDraft || (local.savedAt || 0) > Date.parse(serverDraft.saved_at || 0))) {
        labels.loadDraft(local.draft);
        restored = "Restored your work on this image from this browser.";
      } else if (serverDraft) {
        labels.loadDraft(serverDraft);
        restored = "Restored your saved draft.";
      }
      if (!labels.instances.length) restored = "";
    }
    const draftClock = (task.draft && task.draft.active_ms) || 0;
    this.clock = (kept && kept.clock) || new ActiveClock(config.project.idle_limit_seconds, Math.max(task.active_ms || 0, draftClock));
    this.labels = labels;
    this.savedVersion = kept ? -1 : labels.version;
    this.renderer.labels = labels;
    this.renderer.image = image;
    const prelabel = task.prelabel && Array.isArray(task.prelabel.instances) ? task.prelabel : (Array.isArray(task.prelabels) && task.prelabels.length ? { instances: task.prelabels, model: null } : null);
    this.prelabel = prelabel;
    this.renderer.ghosts = prelabel && !labels.instances.length ? prelabel.instances.map((inst) => fromSubmitted(inst, labels.skeleton.k)) : null;
    this.renderer.pins = Array.isArray(task.review_comments) ? task.review_comments : [];
    this.viewport.fit(task.image.width, task.image.height);
    this.renderer.invalidate("image", "static", "active");
    this.updatePanel();
    this.renderPrelabelBanner();
    this.renderComments();
    $("lease-state").textContent = task.lease_expires_at ? `until ${new Date(task.lease_expires_at).toLocaleTimeString()}` : "-";
    $("draft-state").textContent = restored || (kept ? "not saved yet" : "nothing yet");
    this.stage.focus();
    clearTimeout(this.aheadTimer);
    if (!this.ahead) this.aheadTimer = setTimeout(() => this.leaseAhead(), AHEAD_DELAY_MS);
  }

  /** What is on screen, to come back to it as it is. */
  view() { return { task: this.task, image: this.renderer.image, labels: this.labels, clock: this.clock }; }

  /**
   * Lease the next image while the person labels this one (tasks/next/?ahead=1) and fetch it, so that
   * after submit it is drawn at once. A failure here is quiet: the plain next after submit still works.
   */
  async leaseAhead() {
    // While the previous image's submit is in flight the server still counts it as current.
    if (this.pendingSubmit) await this.pendingSubmit.catch(() => {});
    if (!this.task || this.ahead || this.leaseLost) return;
    this.ahead = LeasedAhead.ask(TASK, () => this.call("POST", `${config.urls.next}?ahead=1`), this.task.id);
  }

  /** Show the task leased ahead (waiting for it and its image if need be), else ask for the next one. */
  async advance() {
    const ahead = this.ahead;
    this.ahead = null;
    const next = ahead && await ahead.take();
    if (next) return this.show(next.body, next.image, next.kept);
    return this.takeNext();
  }

  /**
   * Submit, and when the next image is already here show it at once, without waiting for the answer.
   * Should the server refuse the labels, the person is taken back to them, the error said in words;
   * a lost lease leaves them in this browser and says so.
   */
  async submit() {
    if (!this.task || this.busy) return;
    if (this.leaseLost) return this.reportLeaseLost(this.leaseLostWords);
    this.busy = true;
    const startedAt = performance.now();
    const left = this.view();
    const body = { instances: this.labels.toSubmit(), active_ms: this.clock.ms };
    localCopy.save(left.task.id, { ...left.labels.toDraft(), active_ms: body.active_ms });
    this.renderer.onDrawn = () => {
      this.renderer.onDrawn = null;
      this.timings.push(performance.now() - startedAt);
    };
    // A lease taken ahead that ran out may have gone to someone else: then ask afresh.
    const ahead = this.ahead && this.ahead.ready && this.ahead.live ? this.ahead : null;
    if (this.ahead && this.ahead.ready && !ahead) this.ahead = null;
    this.pendingSubmit = this.call("POST", `${config.urls.assignment}${left.task.id}/submit/`, body);
    if (ahead) {
      this.ahead = null;
      this.show(ahead.body, ahead.decoded, ahead.kept);
    }
    try {
      await this.pendingSubmit;
    } catch (error) {
      this.busy = false;
      this.pendingSubmit = null;
      if (!ahead) {
        this.renderer.onDrawn = null;
        return this.failed(error);
      }
      return this.submitRefusedAfterMovingOn(left, error);
    }
    this.pendingSubmit = null;
    localCopy.drop(left.task.id);
    try {
      if (!ahead) await this.advance();
    } finally {
      this.busy = false;
    }
  }

  submitRefusedAfterMovingOn(left, error) {
    if (error.leaseLost) {
      localCopy.save(left.task.id, { ...left.labels.toDraft(), active_ms: left.clock.ms }, "lease lost");
      return this.showError(`The previous image was not stored. ${error.message} Your work on it is kept in this browser.`);
    }
    // Back to the refused labels; the image opened meanwhile waits as it is.
    clearTimeout(this.aheadTimer);
    this.ahead = LeasedAhead.holding(TASK, this.task, this.renderer.image, { labels: this.labels, clock: this.clock });
    this.show(left.task, left.image, { labels: left.labels, clock: left.clock });
    this.failed(error);
  }

  async release({ thenNext }) {
    if (!this.task || this.busy) return;
    this.busy = true;
    try {
      if (!this.leaseLost) await this.call("POST", `${config.urls.assignment}${this.task.id}/release/`, { active_ms: this.clock.ms });
      localCopy.drop(this.task.id);
      if (thenNext) return await this.advance();
      // Stopping: the image leased ahead goes back to the pool too.
      if (this.ahead && this.ahead.body) await this.call("POST", `${config.urls.assignment}${this.ahead.body.id}/release/`, {});
      window.location.href = config.urls.home;
    } catch (error) {
      this.failed(error);
    } finally {
      this.busy = false;
    }
  }

  async saveDraft({ keepalive = false } = {}) {
    // Not while a submit or release is in flight: the task is about to close.
    if (!this.task || this.leaseLost || !this.labels || (this.busy && !keepalive)) return;
    const task = this.task;
    const version = this.labels.version;
    const draft = { ...this.labels.toDraft(), active_ms: this.clock.ms, saved_at: new Date().toISOString() };
    localCopy.save(this.task.id, draft);
    if (version === this.savedVersion && !keepalive) return;
    $("draft-state").textContent = "saving...";
    try {
      await this.call("PUT", `${config.urls.assignment}${task.id}/`, { draft, active_ms: draft.active_ms }, { keepalive });
      if (this.task !== task) return;
      this.savedVersion = version;
      this.lastServerContact = performance.now();
      $("draft-state").textContent = `saved ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (this.task !== task) return; // an answer about a task already left
      $("draft-state").textContent = "not saved";
      this.failed(error);
    }
  }

  async heartbeat() {
    if (!this.task || this.leaseLost || this.busy || this.clock.idle) return;
    const task = this.task;
    try {
      await this.call("POST", `${config.urls.assignment}${task.id}/heartbeat/`, { active_ms: this.clock.ms });
      this.lastServerContact = performance.now();
    } catch (error) {
      if (this.task === task) this.failed(error);
    }
  }

  call(method, url, data, options) {
    this.requests.push({ method, url, at: performance.now() });
    return api(method, url, data, options);
  }

  failed(error) {
    if (error.leaseLost) return this.reportLeaseLost(error.message);
    this.showError(error.message);
  }

  /** The lease is gone: keep everything on screen and in this browser, say so, stop saving to the server. */
  reportLeaseLost(words) {
    this.leaseLost = true;
    this.leaseLostWords = words;
    const kept = localCopy.save(this.task.id, { ...this.labels.toDraft(), active_ms: this.clock.ms }, "lease lost");
    const placed = this.labels.instances.reduce((n, inst) => n + inst.keypoints.filter((v, i) => i % 3 === 2 && v > 0).length, 0);
    this.showError(`${words} Your ${placed} placed keypoints are still on screen${kept ? " and kept in this browser" : ""}, but they were not stored on the server. Press ${pretty(this.keymap.keysOf("skip_task")[0] || "shift+s")} to take the next image.`);
    $("lease-state").textContent = "lost";
  }

  // --- instructions ------------------------------------------------------------------------
  async loadInstructions() {
    if (this.instructions) return this.instructions;
    try {
      this.instructions = (await this.call("GET", config.urls.instructions)).body;
    } catch (error) {
      this.showError(error.message);
      return null;
    }
    const body = $("instructions-body");
    body.innerHTML = this.instructions.body_html; // sanitized by the server (nh3)
    const examples = $("instructions-examples");
    examples.replaceChildren(...this.instructions.examples.map((ex) => {
      const figure = document.createElement("figure");
      figure.className = ex.kind;
      const img = document.createElement("img");
      img.src = ex.url;
      img.alt = ex.caption;
      const caption = document.createElement("figcaption");
      caption.textContent = ex.caption;
      figure.append(img, caption);
      return figure;
    }));
    $("instructions-title").textContent = `${this.instructions.title} (version ${this.instructions.version})`;
    return this.instructions;
  }

  showInstructions(mustAcknowledge = false) {
    $("acknowledge").hidden = !mustAcknowledge;
    $("instructions-close").hidden = mustAcknowledge;
    this.mustAcknowledge = mustAcknowledge;
    $("instructions-overlay").hidden = false;
    (mustAcknowledge ? $("acknowledge") : $("instructions-close")).focus();
  }

  async acknowledge() {
    try {
      await this.call("POST", config.urls.acknowledge, { version: this.instructions.version });
    } catch (error) {
      return this.showError(error.message);
    }
    this.instructions.acknowledged = true;
    this.mustAcknowledge = false;
    $("instructions-overlay").hidden = true;
    if (!this.task) await this.takeNext();
  }

  /** The instruction's example for a keypoint: an example whose caption names it, else the body's section on it. */
  exampleFor(name) {
    const ins = this.instructions;
    if (!ins) return null;
    const wanted = humanName(name).toLowerCase();
    const example = ins.examples.find((ex) => humanName(ex.caption || "").toLowerCase().includes(wanted));
    if (example) return { image: example.url, text: example.caption, kind: example.kind };
    const headings = $("instructions-body").querySelectorAll("h1, h2, h3, h4, h5, h6");
    for (const heading of headings) {
      if (humanName(heading.textContent).toLowerCase().trim() === wanted) {
        const next = heading.nextElementSibling;
        return { text: next ? next.textContent : "" };
      }
    }
    return null;
  }

  // --- actions ------------------------------------------------------------------------------
  do(action) {
    const edit = LABEL_EDITS[action] || (action === "accept_prelabels" ? () => this.acceptPrelabels() : null);
    if (edit) {
      if (this.labels && edit(this.labels) !== false) this.changed();
      return;
    }
    const other = {
      zoom_in: () => this.zoom(ZOOM_STEP),
      zoom_out: () => this.zoom(1 / ZOOM_STEP),
      fit: () => { if (this.task) { this.viewport.fit(this.task.image.width, this.task.image.height); this.viewChanged(); } },
      bbox_draw: () => { this.boxMode = !this.boxMode; this.updateModeButtons(); },
      save_draft: () => this.saveDraft(),
      submit: () => this.submit(),
      skip_task: () => this.release({ thenNext: true }),
      release: () => this.release({ thenNext: false }),
      instructions: () => (config.project.has_instructions
        ? this.loadInstructions().then((ins) => ins && this.showInstructions(this.mustAcknowledge))
        : this.showError("This project has no written instructions; ask your vendor manager if something is unclear.")),
      shortcuts: () => { $("shortcuts-overlay").hidden = false; },
      close: () => this.closeOverlays(),
    };
    if (other[action]) other[action]();
  }

  acceptPrelabels() {
    if (!this.prelabel) return false;
    const ok = this.labels.replaceAll(this.prelabel.instances);
    this.renderer.ghosts = null;
    this.renderPrelabelBanner();
    return ok;
  }

  closeOverlays() {
    if (this.mustAcknowledge) return;
    $("instructions-overlay").hidden = true;
    $("shortcuts-overlay").hidden = true;
    this.boxMode = false;
    this.renderer.rubberBand = null;
    this.updateModeButtons();
    this.renderer.invalidate("active");
    this.stage.focus();
  }

  /** After any change to the labels: redraw, refresh the panel, save a copy soon. */
  changed() {
    this.renderer.invalidate("static", "active");
    this.updatePanel();
    clearTimeout(this.copyTimer);
    this.copyTimer = setTimeout(() => this.task && localCopy.save(this.task.id, { ...this.labels.toDraft(), active_ms: this.clock.ms }), 300);
  }

  viewChanged() {
    this.renderer.invalidate("image", "static", "active");
    $("zoom-state").textContent = `${Math.round(this.viewport.scale * 100)}%`;
  }

  zoom(factor, sx = this.viewport.width / 2, sy = this.viewport.height / 2) {
    this.viewport.zoomAt(factor, sx, sy);
    this.viewChanged();
  }

  // --- panel ---------------------------------------------------------------------------------
  updatePanel() {
    const labels = this.labels;
    if (!labels) return;
    const sk = labels.skeleton;
    const next = labels.nextUnlabeled();
    const nameBox = $("next-name");
    nameBox.textContent = next < 0 ? "All placed: N starts a new instance" : humanName(sk.names[next]);
    nameBox.dataset.index = String(next);
    const example = next >= 0 ? this.exampleFor(sk.names[next]) : null;
    const exampleBox = $("next-example");
    exampleBox.replaceChildren();
    if (example) {
      if (example.image) {
        const img = document.createElement("img");
        img.src = example.image;
        img.alt = example.text;
        exampleBox.append(img);
      }
      const text = document.createElement("div");
      text.className = "hint";
      text.textContent = example.text;
      exampleBox.append(text);
    }
    $("instance-count").textContent = `(${labels.instances.length})`;
    $("instance-list").replaceChildren(...labels.instances.map((inst, i) => {
      const li = document.createElement("li");
      const placed = inst.keypoints.filter((v, j) => j % 3 === 2 && v > 0).length;
      li.textContent = `${placed}/${sk.k} keypoints${inst.bbox ? ", box" : ""}`;
      li.className = i === labels.selected.instance ? "selected" : "";
      li.onclick = () => { labels.select(i, -1); this.changed(); };
      return li;
    }));
    const inst = labels.current;
    const words = ["not labeled", "occluded", "visible"];
    $("keypoint-list").replaceChildren(...(inst ? sk.names.map((name, j) => {
      const li = document.createElement("li");
      li.dataset.index = String(j);
      li.textContent = humanName(name);
      const v = document.createElement("span");
      v.className = "v";
      v.textContent = inst.skipped[j] && inst.keypoints[3 * j + 2] === 0 ? "skipped" : words[inst.keypoints[3 * j + 2]];
      li.append(v);
      li.classList.toggle("selected", j === labels.selected.keypoint);
      li.classList.toggle("next", j === next);
      li.onclick = () => { labels.select(labels.selected.instance, j); this.changed(); };
      return li;
    }) : []));
    const selected = $("keypoint-list").querySelector("li.selected");
    if (selected) selected.scrollIntoView({ block: "nearest" });
    $("zoom-state").textContent = `${Math.round(this.viewport.scale * 100)}%`;
  }

  renderPrelabelBanner() {
    const box = $("prelabel-box");
    if (!this.renderer.ghosts) { box.hidden = true; return; }
    const model = this.prelabel.model ? ` of ${this.prelabel.model.name || "the model"}` : "";
    box.hidden = false;
    box.textContent = `The suggestions${model} are drawn dashed (${this.prelabel.instances.length} instance(s)). Press ${pretty(this.keymap.keysOf("accept_prelabels")[0])} to start from them and adjust, or label from scratch.`;
  }

  renderComments() {
    const pins = this.renderer.pins;
    $("comments-box").hidden = !pins.length;
    const sk = this.labels.skeleton;
    $("comment-list").replaceChildren(...pins.map((pin, n) => {
      const li = document.createElement("li");
      const where = pin.keypoint != null && sk.names[pin.keypoint] ? `${humanName(sk.names[pin.keypoint])}, instance ${pin.instance + 1}` : `instance ${pin.instance + 1}`;
      li.textContent = `${n + 1}. ${where}: ${pin.text} (${pin.author})`;
      li.onclick = () => {
        if (pin.instance < this.labels.instances.length) this.labels.select(pin.instance, pin.keypoint ?? -1);
        const at = pinPosition(pin, this.labels);
        if (at) { const [sx, sy] = this.viewport.toScreen(...at); this.viewport.pan(this.viewport.width / 2 - sx, this.viewport.height / 2 - sy); }
        this.viewChanged();
        this.changed();
      };
      return li;
    }));
  }

  showError(words) {
    const box = $("error-box");
    box.textContent = words;
    box.hidden = false;
  }

  clearError() { $("error-box").hidden = true; }

  showMessage(title, text) {
    $("message-title").textContent = title;
    $("message-text").textContent = text;
    $("message-overlay").hidden = false;
  }

  tickClock() {
    const ms = this.clock.ms;
    $("clock").textContent = formatDuration(ms);
    $("clock-state").textContent = this.clock.idle ? "paused (idle)" : "";
  }

  updateModeButtons() {
    document.querySelectorAll('[data-action="bbox_draw"]').forEach((b) => b.classList.toggle("active", !!this.boxMode));
  }

  // --- input -----------------------------------------------------------------------------------
  bindButtons() {
    document.querySelectorAll("[data-action]").forEach((button) => {
      const action = button.dataset.action;
      button.addEventListener("click", () => { this.clock.input(); this.do(action); });
    });
    this.labelButtons();
    $("acknowledge").addEventListener("click", () => this.acknowledge());
    $("keys-reset").addEventListener("click", () => { this.keymap.reset(); this.renderShortcutTable(); this.labelButtons(); });
  }

  /** Every button's tooltip names its key(s), from the person's own key map. */
  labelButtons() {
    document.querySelectorAll("[data-action]").forEach((button) => {
      const keys = this.keymap.keysOf(button.dataset.action).map(pretty).join(" or ");
      button.title = `${this.keymap.labelOf(button.dataset.action)}${keys ? ` (${keys})` : ""}`;
    });
  }

  renderShortcutTable() {
    const tbody = $("shortcut-table").querySelector("tbody");
    tbody.replaceChildren(...this.keymap.rows.map((row) => {
      const tr = document.createElement("tr");
      tr.dataset.action = row.action;
      const label = document.createElement("td");
      label.textContent = row.label;
      const keys = document.createElement("td");
      for (const combo of row.keys) {
        const kbd = document.createElement("kbd");
        kbd.textContent = pretty(combo);
        kbd.title = "Click, then press the new key";
        kbd.addEventListener("click", () => { this.rebinding = row.action; kbd.classList.add("listening"); kbd.textContent = "press a key"; });
        keys.append(kbd);
      }
      tr.append(label, keys);
      return tr;
    }));
  }

  bindKeys() {
    window.addEventListener("keydown", (event) => {
      this.clock.input();
      if (event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement) return;
      if (this.rebinding) {
        event.preventDefault();
        if (!["shift", "control", "alt", "meta"].includes(event.key.toLowerCase())) {
          this.keymap.rebind(this.rebinding, comboOf(event));
          this.rebinding = null;
          this.renderShortcutTable();
          this.labelButtons();
        }
        return;
      }
      if (event.key === " ") {
        this.spaceHeld = true;
        this.stage.classList.add("space");
        event.preventDefault();
        return;
      }
      const action = this.keymap.actionFor(event);
      if (!action) return;
      const overlayOpen = !$("instructions-overlay").hidden || !$("shortcuts-overlay").hidden;
      if (overlayOpen && !["close", "shortcuts", "instructions"].includes(action)) return;
      event.preventDefault();
      this.do(action);
    });
    window.addEventListener("keyup", (event) => {
      if (event.key === " ") { this.spaceHeld = false; this.stage.classList.remove("space"); }
    });
  }

  bindStage() {
    const stage = this.stage;
    new ResizeObserver(() => { this.renderer.resize(); }).observe(stage);
    stage.addEventListener("contextmenu", (e) => e.preventDefault());
    stage.addEventListener("wheel", (event) => {
      event.preventDefault();
      this.clock.input();
      const rect = stage.getBoundingClientRect();
      this.zoom(Math.exp(-event.deltaY * 0.0015), event.clientX - rect.left, event.clientY - rect.top);
    }, { passive: false });
    stage.addEventListener("pointerdown", (event) => this.pointerDown(event));
    stage.addEventListener("pointermove", (event) => this.pointerMove(event));
    stage.addEventListener("pointerup", (event) => this.pointerUp(event));
    stage.addEventListener("pointercancel", (event) => this.pointerUp(event));
  }

  at(event) {
    const rect = this.stage.getBoundingClientRect();
    const sx = event.clientX - rect.left, sy = event.clientY - rect.top;
    return [sx, sy, ...this.viewport.toImage(sx, sy)];
  }

  pointerDown(event) {
    this.clock.input();
    this.stage.focus();
    if (!this.labels) return;
    const [sx, sy, x, y] = this.at(event);
    this.stage.setPointerCapture(event.pointerId);
    if (event.button === 1 || (event.button === 0 && this.spaceHeld)) {
      this.gesture = { kind: "pan", sx, sy };
      this.stage.classList.add("panning");
      return;
    }
    if (event.button !== 0) return;
    if (this.boxMode) {
      if (!this.labels.current) this.labels.newInstance();
      this.gesture = { kind: "box", x0: x, y0: y };
      this.renderer.rubberBand = [x, y, 0, 0];
      return;
    }
    const previous = this.labels.selected.instance;
    // A point under the pointer is grabbed, else the next one is placed (keep the button down to adjust it).
    const grabbed = this.labels.press(x, y, HIT_RADIUS_PX / this.viewport.scale);
    if (grabbed) {
      this.gesture = { kind: "drag", instance: grabbed.instance, keypoint: grabbed.keypoint, moved: false };
      if (grabbed.placed) return this.changed();
      if (previous !== grabbed.instance) this.renderer.invalidate("static");
      this.renderer.invalidate("active");
      this.updatePanel();
    } else if (this.labels.current) {
      this.showError("Every keypoint of this instance is placed or skipped. Press N for a new instance, or drag a point to move it.");
    }
  }

  pointerMove(event) {
    const [sx, sy, x, y] = this.at(event);
    $("cursor-state").textContent = `${x.toFixed(1)}, ${y.toFixed(1)}`;
    const g = this.gesture;
    if (!g) return;
    this.clock.input();
    if (g.kind === "pan") {
      this.viewport.pan(sx - g.sx, sy - g.sy);
      g.sx = sx; g.sy = sy;
      this.viewChanged();
    } else if (g.kind === "drag") {
      this.labels.moveTo(g.instance, g.keypoint, x, y);
      g.moved = true;
      this.renderer.invalidate("active");
    } else if (g.kind === "box") {
      this.renderer.rubberBand = [g.x0, g.y0, x - g.x0, y - g.y0];
      this.renderer.invalidate("active");
    }
  }

  pointerUp(event) {
    const g = this.gesture;
    this.gesture = null;
    this.stage.classList.remove("panning");
    if (!g) return;
    if (g.kind === "drag") {
      this.labels.endGesture(g.moved);
      if (g.moved) { this.labels.version++; this.changed(); }
    } else if (g.kind === "box") {
      const band = this.renderer.rubberBand;
      this.renderer.rubberBand = null;
      this.boxMode = false;
      this.updateModeButtons();
      if (band && Math.abs(band[2]) * this.viewport.scale > 3 && Math.abs(band[3]) * this.viewport.scale > 3) this.labels.setBox(band);
      this.changed();
    }
  }

  bindLifecycle() {
    setInterval(() => this.saveDraft(), AUTOSAVE_MS);
    // Heartbeats keep active time creditable past the idle limit (the server caps each gap at it).
    const beatMs = Math.max(5000, Math.min(30000, (config.project.idle_limit_seconds * 1000) / 3));
    setInterval(() => {
      if (!this.lastServerContact || performance.now() - this.lastServerContact >= beatMs) this.heartbeat();
    }, beatMs);
    const leave = () => { if (this.labels && this.task) this.saveDraft({ keepalive: true }); };
    window.addEventListener("pagehide", leave);
    document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") leave(); });
  }
}

const workspace = new Workspace();
window.jointly = workspace; // for the browser tests and bench/bench_editor.py
workspace.start();
