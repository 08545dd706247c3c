// Running jobs as live progress bars: each polls /api/v1/jobs/{id}/ until the job is finished, failed or
// cancelled; a Cancel button where the job supports cancelling (its row carries the URL that does it).

import { api } from "../editor/api.js";

const POLL_MS = 1000;
const DONE = new Set(["finished", "failed", "cancelled"]);

export class JobBars {
  constructor(container) {
    this.container = container;
    this.rows = new Map();
  }

  add(job) {
    if (this.rows.has(job.id)) return this.rows.get(job.id);
    const row = document.createElement("div");
    row.className = "job";
    row.dataset.job = job.id;
    const label = document.createElement("span");
    const bar = Object.assign(document.createElement("progress"), { max: 1, value: job.progress || 0 });
    const state = document.createElement("span");
    state.className = "state";
    row.append(label, bar, state);
    if (job.cancel) {
      const cancel = Object.assign(document.createElement("button"), { textContent: "Cancel" });
      cancel.addEventListener("click", async () => {
        cancel.disabled = true;
        try { await api("POST", job.cancel); } catch (error) { state.textContent = error.message; }
      });
      row.append(cancel);
    }
    const entry = { job, row, label, bar, state };
    this.rows.set(job.id, entry);
    this.container.querySelector(".hint")?.setAttribute("hidden", "");
    this.container.append(row);
    this.render(entry, job);
    this.poll(entry);
    return entry;
  }

  render(entry, job) {
    entry.label.textContent = job.description;
    entry.bar.value = job.progress || 0;
    entry.state.textContent = `${job.state}${job.message ? `: ${job.message}` : ""}${job.error ? ` (${job.error.split("\n")[0]})` : ""}`;
    entry.row.dataset.state = job.state;
  }

  async poll(entry) {
    while (true) {
      let job;
      try {
        ({ body: job } = await api("GET", entry.job.url));
      } catch (error) {
        entry.state.textContent = error.message;
        return;
      }
      this.render(entry, { ...entry.job, ...job });
      if (DONE.has(job.state)) {
        if (job.state === "finished") entry.bar.value = 1;
        entry.row.querySelector("button")?.remove();
        this.onDone?.(job);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}

/** plotly.js is a classic script loaded with `defer`; wait until it is there. */
export function plotly() {
  return new Promise((resolve) => {
    const check = () => (window.Plotly ? resolve(window.Plotly) : setTimeout(check, 20));
    check();
  });
}

export const LAYOUT = { margin: { l: 48, r: 12, t: 8, b: 40 }, font: { size: 12 }, showlegend: true, legend: { orientation: "h" } };
export const PLOT_CONFIG = { displaylogo: false, responsive: true };
