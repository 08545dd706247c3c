// Keyboard shortcuts: the defaults come from frontend/keymap.py (the one table), a person's own
// bindings from localStorage. A combo is written "ctrl+shift+z"; symbols ("?", "+") carry no shift.

const NAMED = { " ": "space", "Esc": "escape", "Del": "delete" };

/** The combo string of a keydown event, in the table's spelling. */
export function comboOf(event) {
  let key = NAMED[event.key] || event.key;
  const parts = [];
  if (event.ctrlKey || event.metaKey) parts.push("ctrl");
  if (event.altKey) parts.push("alt");
  if (key.length === 1) {
    const letterOrDigit = /[a-z0-9]/i.test(key);
    key = key.toLowerCase();
    if (event.shiftKey && letterOrDigit) parts.push("shift");
  } else {
    key = key.toLowerCase();
    if (event.shiftKey && key !== "shift") parts.push("shift");
  }
  parts.push(key);
  return parts.join("+");
}

/** How a combo reads on a button's tooltip and in the sheet. */
export function pretty(combo) {
  return combo.split(/\+(?=.)/).map((p) => (p.length === 1 ? p.toUpperCase() : p[0].toUpperCase() + p.slice(1))).join("+");
}

export class Keymap {
  constructor(defaults, userId) {
    this.defaults = defaults;
    this.storageKey = `jointly.keymap.${userId}`;
    let own = {};
    try { own = JSON.parse(localStorage.getItem(this.storageKey) || "{}"); } catch { own = {}; }
    this.rows = defaults.map((row) => ({ ...row, keys: own[row.action] || row.keys }));
    this.index();
  }

  index() {
    this.byCombo = new Map();
    for (const row of this.rows) for (const combo of row.keys) this.byCombo.set(combo, row.action);
  }

  actionFor(event) { return this.byCombo.get(comboOf(event)); }
  keysOf(action) { return (this.rows.find((r) => r.action === action) || { keys: [] }).keys; }
  labelOf(action) { return (this.rows.find((r) => r.action === action) || { label: action }).label; }

  /** Bind `combo` to `action` alone: whatever else used that combo loses it. */
  rebind(action, combo) {
    for (const row of this.rows) row.keys = row.keys.filter((k) => k !== combo);
    this.rows.find((r) => r.action === action).keys = [combo];
    this.save();
  }

  reset() {
    localStorage.removeItem(this.storageKey);
    this.rows = this.defaults.map((row) => ({ ...row }));
    this.index();
  }

  save() {
    const own = {};
    this.rows.forEach((row, i) => {
      if (row.keys.join() !== this.defaults[i].keys.join()) own[row.action] = row.keys;
    });
    localStorage.setItem(this.storageKey, JSON.stringify(own));
    this.index();
  }
}
