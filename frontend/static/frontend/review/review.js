// The QA review workspace: lease a review task, show everyone's labels on the image, decide with one key.
// Everything shown comes from the review API (reviews/next, reviews/{id}); decisions go to
// reviews/{id}/decide/ with the version read, so a task that changed meanwhile answers 409 and the page
// says so in words, keeping the comments and the edit the QA lead made. While the QA lead looks, the next
// task is leased ahead (reviews/next/?ahead=1) and its image fetched, so after a decision it is on screen
// at once. Edit mode is the annotator editor's: its model, its label actions and its keys.

import { LABEL_EDITS } from "../editor/actions.js";
import { api, ApiError } from "../editor/api.js";
import { Keymap, pretty } from "../editor/keys.js";
import { Labels, Skeleton } from "../editor/model.js";
import { LeasedAhead } from "../editor/lease_ahead.js";
import { Viewport, loadImage } from "../editor/view.js";
import { FLAG_NAMES, PALETTE, ReviewRenderer, spreadColor } from "./overlay.js";

const $ = (id) => document.getElementById(id);
const config = JSON.parse($("review-config").textContent);
const HIT_RADIUS_PX = 12;
/** How long after a task appears the next one is leased ahead and its image fetched. */
const AHEAD_DELAY_MS = 300;
/** How LeasedAhead reads a review picture (reviews/next's answer). */
const PICTURE = {
  id: (picture) => picture.task.id, expires: (picture) => picture.task.lease_expires_at,
  imageUrl: (picture) => picture.image.url,
};

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** The editor's Skeleton from the review API's skeleton (names, edges and flip pairs by index). */
function editorSkeleton(sk) {
  const partner = sk.names.map((_, i) => i);
  for (const [a, b] of sk.flip_pairs) { partner[a] = b; partner[b] = a; }
  return new Skeleton({
    keypoints: sk.names.map((name, i) => ({ name, flip_partner: partner[i] !== i ? sk.names[partner[i]] : null })),
    edges: sk.edges.map(([a, b]) => [sk.names[a], sk.names[b]]),
  });
}

class ReviewWorkspace {
  constructor() {
    this.stage = $("stage");
    this.viewport = new Viewport();
    this.renderer = new ReviewRenderer(this.stage, {
      image: $("layer-image"), static: $("layer-static"), active: $("layer-active"),
    }, this.viewport);
    this.picture = null;
    this.mode = "look"; // look | edit | reject
    this.comments = []; // pinned comments of the reject being written: kept across a 409
    this.pending = null; // the keypoint clicked for the next comment
    this.busy = false;
    this.ahead = null; // the task leased ahead (a LeasedAhead)
    this.requests = []; // what the page asked the API, in order (the browser tests read it)
    // The editor's keys (and the person's own bindings of them) drive edit mode.
    this.editKeys = new Keymap(config.edit_keymap, config.user.id);
    this.bind();
    this.renderEditKeys();
    window.addEventListener("resize", () => this.renderer.resize());
    window.jointlyReview = this; // for the browser tests and the bench
  }

  // --- task ------------------------------------------------------------------------
  call(method, url, data) {
    this.requests.push(`${method} ${url}`);
    return api(method, url, data);
  }

  async next() {
    this.setError("");
    let response;
    try {
      response = await this.call("POST", config.urls.next);
    } catch (error) {
      return this.setError(error.message);
    }
    if (response.status === 204) {
      this.picture = null;
      this.renderer.picture = null;
      this.renderer.invalidate("image", "static", "active");
      return this.message("The review queue is empty", "Nothing waits for a QA lead in this project right now.");
    }
    await this.show(response.body);
  }

  async show(picture, { keepView = false, image = null } = {}) {
    image = image || ((this.renderer.image && this.picture && this.picture.image.id === picture.image.id)
      ? this.renderer.image : await loadImage(picture.image.url));
    const sameTask = this.picture && this.picture.task.id === picture.task.id;
    this.picture = picture;
    this.renderer.picture = picture;
    this.renderer.image = image;
    if (!sameTask) {
      this.renderer.visible = picture.annotators.map(() => true);
      this.comments = [];
      this.pending = null;
      this.edit = null;
      this.setMode("look");
      clearTimeout(this.aheadTimer);
      if (this.ahead && this.ahead.holds(picture.task.id)) this.ahead = null;
      if (!this.ahead) this.aheadTimer = setTimeout(() => this.leaseAhead(), AHEAD_DELAY_MS);
    }
    this.renderer.pins = this.comments;
    if (!keepView || !sameTask) this.viewport.fit(picture.image.width, picture.image.height);
    this.renderer.invalidate("image", "static", "active");
    this.renderPanel();
    this.stage.focus();
  }

  /**
   * Lease the next task while the QA lead looks at this one and fetch its image, so that after the decision
   * it is drawn at once. The server makes it the current task when this is asked again after the decision
   * (the same rule as the annotators' lease ahead). A failure here is quiet: the plain next still works.
   */
  leaseAhead() {
    if (!this.picture || this.ahead) return;
    this.ahead = LeasedAhead.ask(PICTURE, () => this.call("POST", `${config.urls.next}?ahead=1`), this.picture.task.id);
  }

  /** After a decision: the task leased ahead when it is here and still ours, else ask for the next. */
  async advance() {
    const ahead = this.ahead;
    this.ahead = null;
    clearTimeout(this.aheadTimer);
    const next = ahead && await ahead.take();
    if (next) return this.show(next.body, { image: next.image });
    return this.next();
  }

  async reload() {
    const { body } = await this.call("GET", `${config.urls.task}${this.picture.task.id}/`);
    await this.show(body, { keepView: true });
    return body;
  }

  // --- decisions -------------------------------------------------------------------
  async decide(body, what) {
    if (!this.picture || this.busy) return;
    if (this.mode === "edit" && body.action !== "edit") {
      return this.setError("You are editing the consensus: Enter accepts your edit; Esc leaves edit mode (the edit is kept) before deciding otherwise.");
    }
    this.busy = true;
    this.setError("");
    const task = this.picture.task;
    try {
      const { body: decision } = await this.call("POST", `${config.urls.task}${task.id}/decide/`, { version: this.picture.version, ...body });
      this.lastDecision = decision;
      this.comments = [];
      this.edit = null;
      this.info(`${what}: image ${decision.image} is now ${decision.image_status.replace("_", " ")}.`);
      await this.advance();
    } catch (error) {
      await this.refused(error, what);
    } finally {
      this.busy = false;
    }
  }

  /** A refused decision in words; what the QA lead wrote or edited stays on screen. */
  async refused(error, what) {
    if (!(error instanceof ApiError) || error.status !== 409) return this.setError(error.message);
    const detail = (error.body && error.body.detail) || "";
    let now = null;
    try { now = await this.reload(); } catch { /* the words below still hold */ }
    const decided = now && now.task.state !== "open";
    this.setError(decided
      ? `Not saved: ${what} came too late, this task was already decided (${detail}). Your comments and edits are still here; press X to move on.`
      : `Not saved: this task changed while you looked at it (${detail}). It now shows the latest labels (version ${now ? now.version : "?"}); your comments and edits are still here. Check them and decide again.`);
  }

  acceptConsensus() { this.decide({ action: "accept_consensus" }, "Consensus accepted"); }

  acceptAnnotator(n) {
    const a = this.picture && this.picture.annotators[n];
    if (!a) return this.setError(`There is no annotator ${n + 1} on this image.`);
    this.decide({ action: "accept_annotation", annotator: a.annotator.id }, `Annotator ${n + 1} (${a.annotator.username}) accepted`);
  }

  sendBack() {
    if (!this.comments.length) return this.setError("Click a keypoint and write what to fix before sending back.");
    const annotators = [...new Set(this.comments.map((c) => c.annotator))];
    this.decide({
      action: "reject", annotators, reassign: $("reassign").checked,
      comments: this.comments.map(({ annotator, instance, keypoint, x, y, text }) => ({ annotator, instance, keypoint, x, y, text })),
    }, "Sent back");
  }

  saveEdit() {
    if (!this.edit) return;
    this.decide({ action: "edit", instances: this.edit.toSubmit() }, "Edited labels accepted");
  }

  async release() {
    if (!this.picture) return;
    try {
      await this.call("POST", `${config.urls.task}${this.picture.task.id}/release/`);
      // Stopping: the task leased ahead goes back to the queue too.
      const ahead = this.ahead;
      this.ahead = null;
      clearTimeout(this.aheadTimer);
      if (ahead && ahead.body) await this.call("POST", `${config.urls.task}${ahead.body.task.id}/release/`);
      this.picture = null;
      this.message("Task given back", "It waits in the queue for the next QA lead.");
    } catch (error) {
      this.setError(error.message);
    }
  }

  // --- modes -----------------------------------------------------------------------
  setMode(mode) {
    this.mode = mode;
    this.renderer.editing = mode === "edit";
    if (mode === "edit" && !this.edit && this.picture) {
      this.edit = new Labels(editorSkeleton(this.picture.skeleton), this.picture.image.width, this.picture.image.height);
      this.edit.replaceAll(this.picture.consensus.instances);
      this.edit.undoStack = [];
    }
    this.renderer.labels = mode === "edit" ? this.edit : null;
    $("comments-box").hidden = mode !== "reject" && !this.comments.length;
    const key = (action) => this.editKeys.keysOf(action).map(pretty).join(" or ");
    const words = {
      edit: `Editing a copy of the consensus with the editor's tools: click places the next missing keypoint, drag moves one; ${key("next_keypoint")} selects the next keypoint, ${key("visible")} / ${key("occluded")} / ${key("unlabel")} make it visible / occluded / not labeled, ${key("undo")} undoes, ${key("redo")} redoes (? lists every key). Enter accepts the edit, Esc leaves.`,
      reject: "Rejecting: click a keypoint of an annotator's skeleton, write what to fix, Enter pins it; then Send back.",
    };
    $("mode-box").hidden = !words[mode];
    $("mode-text").textContent = words[mode] || "";
    this.renderSelection();
    for (const action of ["edit", "reject"]) {
      document.querySelector(`.toolbar [data-action='${action}']`).classList.toggle("active", mode === action);
    }
    this.renderer.invalidate("static", "active");
  }

  /** The shown annotator keypoint nearest a screen point, or null. */
  annotatorPointAt(sx, sy) {
    const [x, y] = this.viewport.toImage(sx, sy);
    const radius = HIT_RADIUS_PX / this.viewport.scale;
    let best = null, bestD = radius * radius;
    this.picture.annotators.forEach((a, ai) => {
      if (!this.renderer.visible[ai]) return;
      a.instances.forEach((inst, ii) => {
        for (let j = 0; 3 * j < inst.keypoints.length; j++) {
          if (!inst.keypoints[3 * j + 2]) continue;
          const d = (inst.keypoints[3 * j] - x) ** 2 + (inst.keypoints[3 * j + 1] - y) ** 2;
          if (d <= bestD) {
            bestD = d;
            best = { annotator: a.annotator.id, who: ai, instance: ii, keypoint: j, x: inst.keypoints[3 * j], y: inst.keypoints[3 * j + 1] };
          }
        }
      });
    });
    return best;
  }

  pinComment() {
    const text = $("comment-text").value.trim();
    if (!this.pending) return this.setError("Click the keypoint the comment is about first.");
    if (!text) return this.setError("Write what to fix at that keypoint.");
    this.comments.push({ ...this.pending, text });
    this.pending = null;
    $("comment-text").value = "";
    this.setError("");
    this.renderer.pins = this.comments;
    this.renderer.invalidate("static");
    this.renderComments();
  }

  // --- input -----------------------------------------------------------------------
  bind() {
    document.addEventListener("keydown", (event) => this.onKey(event));
    document.querySelectorAll("[data-action]").forEach((button) => button.addEventListener("click", () => this.act(button.dataset.action)));
    this.stage.addEventListener("wheel", (event) => {
      event.preventDefault();
      const rect = this.stage.getBoundingClientRect();
      this.viewport.zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX - rect.left, event.clientY - rect.top);
      this.renderer.invalidate("image", "static", "active");
    }, { passive: false });
    this.stage.addEventListener("pointerdown", (event) => this.onPointerDown(event));
    $("comment-text").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        this.pinComment();
      }
    });
  }

  onPointerDown(event) {
    if (!this.picture) return;
    const rect = this.stage.getBoundingClientRect();
    const sx = event.clientX - rect.left, sy = event.clientY - rect.top;
    if (this.mode === "reject") {
      const hit = this.annotatorPointAt(sx, sy);
      if (hit) {
        this.pending = hit;
        this.renderComments();
        // After the click's own focus change (to the stage), so the QA lead can type at once.
        setTimeout(() => $("comment-text").focus(), 0);
        return;
      }
    }
    let drag = null;
    if (this.mode === "edit" && event.button === 0) {
      // The editor's press: grab the point under the pointer, else place the next missing one there.
      const [x, y] = this.viewport.toImage(sx, sy);
      drag = this.edit.press(x, y, HIT_RADIUS_PX / this.viewport.scale);
      if (drag) this.edited();
    }
    let last = [event.clientX, event.clientY], moved = false;
    this.stage.setPointerCapture(event.pointerId);
    const move = (e) => {
      if (drag) {
        const r = this.stage.getBoundingClientRect();
        const [x, y] = this.viewport.toImage(e.clientX - r.left, e.clientY - r.top);
        this.edit.moveTo(drag.instance, drag.keypoint, x, y);
        this.renderer.invalidate("active", "static");
      } else {
        this.viewport.pan(e.clientX - last[0], e.clientY - last[1]);
        this.renderer.invalidate("image", "static", "active");
      }
      last = [e.clientX, e.clientY];
      moved = true;
    };
    const up = () => {
      this.stage.removeEventListener("pointermove", move);
      this.stage.removeEventListener("pointerup", up);
      if (drag) {
        this.edit.endGesture(moved);
        this.edited();
      }
    };
    this.stage.addEventListener("pointermove", move);
    this.stage.addEventListener("pointerup", up);
  }

  onKey(event) {
    if (event.target === $("comment-text")) {
      if (event.key === "Escape") this.stage.focus();
      return;
    }
    if (this.mode === "edit" && this.edit) {
      const edit = LABEL_EDITS[this.editKeys.actionFor(event)];
      if (edit) {
        event.preventDefault();
        if (edit(this.edit) !== false) this.edited();
        return;
      }
    }
    const digit = /^Digit([1-9])$/.exec(event.code);
    if (digit && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      const n = Number(digit[1]) - 1;
      return event.shiftKey ? this.acceptAnnotator(n) : this.toggleAnnotator(n);
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const action = {
      c: "toggle_consensus", s: "toggle_spread", a: "accept_consensus", e: "edit", r: "reject", x: "release",
      "+": "zoom_in", "=": "zoom_in", "-": "zoom_out", 0: "fit", "?": "shortcuts", Escape: "escape", Enter: "enter",
    }[event.key];
    if (action) {
      event.preventDefault();
      this.act(action);
    }
  }

  act(action) {
    const v = this.viewport;
    switch (action) {
      case "toggle_consensus": this.renderer.showConsensus = !this.renderer.showConsensus; break;
      case "toggle_spread": this.renderer.showSpread = !this.renderer.showSpread; break;
      case "accept_consensus": return this.acceptConsensus();
      case "edit": return this.setMode(this.mode === "edit" ? "look" : "edit");
      case "reject": return this.setMode(this.mode === "reject" ? "look" : "reject");
      case "send_back": return this.sendBack();
      case "release": return this.release();
      case "enter": if (this.mode === "edit") this.saveEdit(); return;
      case "escape":
        document.querySelectorAll(".overlay").forEach((o) => { if (o.id !== "message-overlay") o.hidden = true; });
        return this.setMode("look");
      case "zoom_in": v.zoomAt(1.25, v.width / 2, v.height / 2); this.renderer.invalidate("image"); break;
      case "zoom_out": v.zoomAt(0.8, v.width / 2, v.height / 2); this.renderer.invalidate("image"); break;
      case "fit": if (this.picture) v.fit(this.picture.image.width, this.picture.image.height); this.renderer.invalidate("image"); break;
      case "shortcuts": $("shortcuts-overlay").hidden = false; return;
      case "close": document.querySelectorAll(".overlay").forEach((o) => { if (o.id !== "message-overlay") o.hidden = true; }); return;
      default: return;
    }
    this.renderer.invalidate("static", "active");
    this.renderLegend();
  }

  /** After a change to the edited copy: redraw it and say which keypoint is selected. */
  edited() {
    this.renderer.invalidate("static", "active");
    this.renderSelection();
  }

  renderSelection() {
    const box = $("edit-selection");
    const labels = this.mode === "edit" ? this.edit : null;
    const { instance, keypoint } = labels ? labels.selected : { instance: -1, keypoint: -1 };
    box.hidden = !labels;
    if (!labels) return;
    const inst = labels.current;
    const state = ["not labeled", "occluded", "visible"];
    box.textContent = inst && keypoint >= 0
      ? `Selected: person ${instance + 1}, ${this.picture.skeleton.names[keypoint]} (${state[inst.keypoints[3 * keypoint + 2]]})`
      : "Nothing selected: click a point, or press Tab.";
  }

  /** The shortcut sheet's edit-mode rows: the editor's own label keys, as the person bound them. */
  renderEditKeys() {
    $("edit-keys").replaceChildren(...this.editKeys.rows.filter((row) => LABEL_EDITS[row.action]).map((row) => el("tr", {},
      el("td", { textContent: row.label }),
      el("td", {}, ...row.keys.map((combo) => el("kbd", { textContent: pretty(combo) }))))));
  }

  toggleAnnotator(n) {
    if (!this.picture || n >= this.picture.annotators.length) return;
    this.renderer.visible[n] = !this.renderer.visible[n];
    this.renderer.invalidate("static");
    this.renderLegend();
  }

  // --- panel -----------------------------------------------------------------------
  renderPanel() {
    const p = this.picture;
    const t = p.task;
    $("task-summary").textContent = `Image ${p.image.id} (${p.image.file_name}) · ${t.kind.replace("_", " ")}, round ${t.round} · agreement ${p.agreement == null ? "-" : p.agreement.toFixed(3)}`;
    $("reasons").replaceChildren(...(t.reasons || []).map((r) => el("li", { textContent: r })));
    $("accept-buttons").replaceChildren(...p.annotators.map((a, i) => {
      const b = el("button", { textContent: `Accept ${i + 1}`, title: `Accept ${a.annotator.username}'s labels (Shift+${i + 1})` });
      b.dataset.accept = String(i + 1);
      b.addEventListener("click", () => this.acceptAnnotator(i));
      return b;
    }));
    this.renderLegend();
    this.renderOks();
    this.renderKeypoints();
    $("flag-list").replaceChildren(...p.flags.map((f) => {
      const who = p.annotators.findIndex((a) => a.annotator.id === f.annotator);
      const where = [f.keypoint, f.other_keypoint].filter(Boolean).join(" / ");
      return el("li", { textContent: `${FLAG_NAMES[f.code] || f.code}: annotator ${who + 1}, instance ${f.instance + 1}${where ? `, ${where}` : ""}` });
    }));
    if (!p.flags.length) $("flag-list").replaceChildren(el("li", { className: "hint", textContent: "none" }));
    $("history").replaceChildren(...p.history.map((e) => el("li", { textContent: this.describeEvent(e) })));
    this.renderComments();
  }

  renderLegend() {
    const p = this.picture;
    if (!p) return;
    $("legend").replaceChildren(...p.annotators.map((a, i) => {
      const li = el("li", { className: this.renderer.visible[i] ? "" : "off", title: `Key ${i + 1} shows or hides` },
        el("span", { className: "swatch", style: `background:${PALETTE[i % PALETTE.length]}` }),
        el("b", { textContent: `${i + 1}` }), ` ${a.annotator.username}`,
        el("span", { className: "hint", textContent: ` OKS vs others ${a.oks_vs_others == null ? "-" : a.oks_vs_others.toFixed(3)} · ${a.instances.length} instance(s)${a.flags.length ? ` · ${a.flags.length} flag(s)` : ""}` }));
      li.dataset.annotator = String(a.annotator.id);
      li.addEventListener("click", () => this.toggleAnnotator(i));
      return li;
    }), el("li", { className: this.renderer.showConsensus ? "" : "off" },
      el("span", { className: "swatch", style: "background:#fff;border:1px solid #000" }), el("b", { textContent: "C" }), " consensus"));
    $("toggle-consensus").classList.toggle("active", this.renderer.showConsensus);
    $("toggle-spread").classList.toggle("active", this.renderer.showSpread);
  }

  renderOks() {
    const p = this.picture;
    const ids = p.annotators.map((a) => String(a.annotator.id));
    const oks = (a, b) => p.pairwise_oks[`${a}-${b}`] ?? p.pairwise_oks[`${b}-${a}`];
    const head = el("tr", {}, el("th"), ...ids.map((_, i) => el("th", { textContent: String(i + 1) })));
    const rows = ids.map((a, i) => el("tr", {}, el("th", { textContent: String(i + 1) }), ...ids.map((b) => {
      const value = a === b ? null : oks(a, b);
      return el("td", { className: value != null && value < 0.5 ? "num low" : "num", textContent: value == null ? "" : value.toFixed(3) });
    })));
    $("oks-table").replaceChildren(head, ...rows);
  }

  renderKeypoints() {
    const p = this.picture;
    const spreads = p.consensus.objects.filter((o) => o.accepted).map((o) => o.spread || []);
    $("keypoint-table").replaceChildren(
      el("tr", {}, el("th", { textContent: "keypoint" }), el("th", { textContent: "agreement" }), el("th", { textContent: "spread" })),
      ...p.skeleton.names.map((name, j) => {
        const agreement = p.keypoint_agreement[name];
        const worst = Math.max(-1, ...spreads.map((s) => (s[j] == null ? -1 : s[j])));
        const spread = el("td", { className: "num", textContent: worst < 0 ? "-" : worst.toFixed(2) });
        if (worst >= 0) spread.style.color = spreadColor(worst) === "#4ade80" ? "#067647" : spreadColor(worst);
        const row = el("tr", {}, el("td", { textContent: name }),
          el("td", { className: agreement != null && agreement < 0.5 ? "num low" : "num", textContent: agreement == null ? "-" : agreement.toFixed(3) }), spread);
        row.dataset.keypoint = name;
        return row;
      }));
  }

  renderComments() {
    $("comments-box").hidden = this.mode !== "reject" && !this.comments.length;
    const names = this.picture ? this.picture.skeleton.names : [];
    const items = this.comments.map((c, n) => el("li", { textContent: `annotator ${c.who + 1}, ${names[c.keypoint]}: ${c.text}` }));
    if (this.pending) items.push(el("li", { className: "hint", textContent: `annotator ${this.pending.who + 1}, ${names[this.pending.keypoint]}: (write the comment)` }));
    $("comment-list").replaceChildren(...items);
  }

  describeEvent(e) {
    const when = new Date(e.at).toLocaleString();
    const who = (id) => {
      const i = this.picture.annotators.findIndex((a) => a.annotator.id === id);
      return i >= 0 ? `annotator ${i + 1} (${this.picture.annotators[i].annotator.username})` : `annotator #${id}`;
    };
    switch (e.event) {
      case "leased": return `${when}: ${who(e.annotator)} started`;
      case "submitted": return `${when}: ${who(e.annotator)} submitted`;
      case "released": return `${when}: ${who(e.annotator)} gave it back`;
      case "scored": return `${when}: scored, agreement ${e.agreement == null ? "-" : e.agreement.toFixed(3)}: ${e.decision.replace("_", " ")}`;
      case "review_task": return `${when}: review task (${e.kind.replace("_", " ")}, round ${e.round}) ${e.state}`;
      default:
        if (e.event.startsWith("decision:")) {
          const comments = (e.payload && e.payload.comments) || [];
          return `${when}: ${e.actor.username} decided ${e.event.slice(9).replace("_", " ")}${comments.length ? `: ${comments.map((c) => c.text).join("; ")}` : ""}`;
        }
        return `${when}: ${e.event.replace("annotation:", "")} labels stored`;
    }
  }

  // --- words -----------------------------------------------------------------------
  setError(text) {
    $("error-box").hidden = !text;
    $("error-box").textContent = text;
  }

  info(text) { this.lastInfo = text; }

  message(title, text) {
    $("message-title").textContent = title;
    $("message-text").textContent = text;
    $("message-overlay").hidden = false;
  }
}

const workspace = new ReviewWorkspace();
workspace.next();
