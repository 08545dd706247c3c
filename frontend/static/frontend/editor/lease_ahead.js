// The next task, leased ahead (`.../next/?ahead=1`) while the person works on this one and its image fetched,
// so that it is on screen at once after a submit or a decision. The annotator and the review workspaces each
// hold one; the server's side of the rule is annotation.engine.leases.lease_ahead_rule.
//
// What the pages (and the browser tests) read: `body` (the API's answer: null while the call is in flight or
// when nothing was leased), `pending` (the call is in flight), `ready` (its image is decoded: `decoded`).

import { loadImage } from "./view.js";

export class LeasedAhead {
  /**
   * @param shape how to read an answer: {id(body), expires(body), imageUrl(body)} (a task for annotators,
   *   a review picture for QA leads)
   */
  constructor(shape) {
    this.shape = shape;
    this.body = null;
    this.pending = false;
    this.ready = false;
    this.decoded = null;
    this.image = null;
  }

  /** Ask for the task after the current one (call(): the API call's promise); never throws. */
  static ask(shape, call, currentId) {
    const entry = new LeasedAhead(shape);
    entry.pending = true;
    entry.done = entry.fetch(call, currentId);
    return entry;
  }

  /** A task already in hand, with its decoded image and what else the page keeps of it, to come back to. */
  static holding(shape, body, decoded, kept) {
    return Object.assign(new LeasedAhead(shape), { body, decoded, kept, ready: true, image: Promise.resolve(decoded) });
  }

  async fetch(call, currentId) {
    let response;
    try {
      response = await call();
    } catch {
      return; // a failure only means nothing waits: the plain next still works
    } finally {
      this.pending = false;
    }
    // 204, or the current task itself (nothing to lease ahead of): nothing waits, and nobody asks again for it.
    if (response.status === 204 || this.shape.id(response.body) === currentId) return;
    this.body = response.body;
    this.image = loadImage(this.shape.imageUrl(this.body));
    this.image.then((decoded) => { this.decoded = decoded; this.ready = true; }, () => {});
  }

  /** Whether this is the task with that id. */
  holds(id) { return this.body !== null && this.shape.id(this.body) === id; }

  /** Its lease still runs: one that ran out may have gone to someone else. */
  get live() { return this.body !== null && Date.parse(this.shape.expires(this.body)) > Date.now(); }

  /**
   * After a submit or a decision: {body, image, kept} to show, or null when nothing usable waits. A call
   * still in flight is waited for: a plain next beside it would race it (each skips the row the other has
   * locked, so the plain one could find nothing left).
   */
  async take() {
    if (this.pending) await this.done;
    if (!this.live) return null;
    const image = this.decoded || await this.image.catch(() => null);
    return image ? { body: this.body, image, kept: this.kept } : null;
  }
}
