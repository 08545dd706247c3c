// Time and safety around one task: the active-time clock, and a copy of the work in this browser.

/**
 * Active time as the server credits it (annotation/services/active_time.py): time counts while
 * the person gave input within the project's idle limit, and stops idle_limit seconds after the
 * last input. The running total goes with every draft save, heartbeat, release and submit.
 */
export class ActiveClock {
  constructor(idleLimitSeconds, startMs = 0, now = () => performance.now()) {
    this.idleMs = idleLimitSeconds * 1000;
    this.totalMs = startMs;
    this.now = now;
    this.lastInput = now();
    this.lastTick = this.lastInput;
  }

  /** Input happened: credit the stretch since the last tick (capped at the idle limit), restart. */
  input() {
    this.tick();
    this.lastInput = this.now();
  }

  /** Credit time up to now, but never past idle limit after the last input. */
  tick() {
    const now = this.now();
    const activeUntil = Math.min(now, this.lastInput + this.idleMs);
    if (activeUntil > this.lastTick) this.totalMs += activeUntil - this.lastTick;
    this.lastTick = now;
    return this.totalMs;
  }

  get idle() { return this.now() - this.lastInput > this.idleMs; }
  get ms() { return Math.round(this.tick()); }
}

/** The work of one assignment kept in localStorage, so nothing placed is lost when the server refuses it. */
export const localCopy = {
  key(assignmentId) { return `jointly.work.${assignmentId}`; },
  save(assignmentId, draft, note = "") {
    try {
      localStorage.setItem(this.key(assignmentId), JSON.stringify({ savedAt: Date.now(), note, draft }));
      return true;
    } catch { return false; }
  },
  load(assignmentId) {
    try { return JSON.parse(localStorage.getItem(this.key(assignmentId)) || "null"); } catch { return null; }
  },
  drop(assignmentId) { localStorage.removeItem(this.key(assignmentId)); },
};

export function formatDuration(ms) {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h ? `${h}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}` : `${m}:${String(sec).padStart(2, "0")}`;
}
