// Annotators: speed against quality, per-keypoint bias and the per-person table, all read from
// /api/v1/workforce/stats/ in the browser, so each reader sees exactly the people that API scopes to them
// (a vendor manager: their vendor's). Timesheet links take the chosen dates.

import { api } from "../editor/api.js";
import { JobBars, LAYOUT, PLOT_CONFIG, plotly } from "./jobs.js";

const $ = (id) => document.getElementById(id);
const config = JSON.parse($("dashboard-config").textContent);
const fmt = (v, digits = 3) => (v == null ? "-" : Number(v).toFixed(digits));

function cell(text, num = true) {
  return Object.assign(document.createElement("td"), { textContent: text, className: num ? "num" : "" });
}

async function draw() {
  const [{ body }, Plotly] = await Promise.all([api("GET", config.urls.stats), plotly()]);
  const key = (annotator, project) => `${annotator}:${project}`;
  const speed = new Map(body.results.map((r) => [key(r.annotator.id, r.project.id), r]));
  const rows = body.quality.map((q) => ({ q, r: speed.get(key(q.annotator.id, q.project.id)) }));
  // People with work in the period but nothing scored yet still get a row.
  for (const r of body.results) {
    if (!rows.some(({ q }) => q.annotator.id === r.annotator.id && q.project.id === r.project.id)) rows.push({ q: { annotator: r.annotator, project: r.project, keypoint_bias: [] }, r });
  }
  const tbody = document.querySelector("#annotator-table tbody");
  tbody.replaceChildren(...rows.map(({ q, r }) => {
    const tr = document.createElement("tr");
    tr.dataset.annotator = q.annotator.username;
    tr.append(cell(q.annotator.username, false), cell(r ? r.vendor : "-", false), cell(q.project.name, false),
      cell(q.images ?? (r ? r.tasks_submitted : "-")), cell(fmt(q.median_active_seconds_per_image ?? (r && r.median_seconds_per_image), 1)),
      cell(fmt(q.loo_oks)), cell(fmt(q.gold_oks)), cell(q.rejection_rate == null ? "-" : `${(100 * q.rejection_rate).toFixed(1)} %`),
      cell(fmt(q.flags_per_100_images, 1)), cell(r && r.prelabel_shift ? fmt(r.prelabel_shift.mean_px, 1) : "-"));
    return tr;
  }));
  $("annotators-empty").hidden = rows.length > 0;
  const scored = rows.filter(({ q }) => q.loo_oks != null || q.gold_oks != null);
  await Plotly.newPlot("chart-scatter", [{
    type: "scatter", mode: "markers+text", textposition: "top center",
    x: scored.map(({ q, r }) => q.median_active_seconds_per_image ?? (r && r.median_seconds_per_image)),
    y: scored.map(({ q }) => q.loo_oks ?? q.gold_oks),
    text: scored.map(({ q }) => q.annotator.username), name: "annotators",
  }], { ...LAYOUT, showlegend: false, xaxis: { title: { text: "median seconds per image" } }, yaxis: { title: { text: "OKS (leave-one-out, else gold)" } } }, PLOT_CONFIG);
  const biases = rows.flatMap(({ q }) => q.keypoint_bias.map((b) => ({ ...b, who: q.annotator.username })));
  await Plotly.newPlot("chart-bias", [{
    type: "bar", orientation: "h", x: biases.map((b) => b.size_sigmas), y: biases.map((b) => `${b.who}: ${b.keypoint}`),
    text: biases.map((b) => b.text || ""), name: "bias",
  }], { ...LAYOUT, showlegend: false, margin: { l: 180, r: 12, t: 8, b: 30 }, xaxis: { title: { text: "sigmas" } } }, PLOT_CONFIG);
  window.jointlyDashboard.rows = rows.map(({ q }) => q.annotator.username);
  window.jointlyDashboard.ready = true;
}

function timesheetLinks() {
  const from = $("date-from"), to = $("date-to");
  if (!from) return;
  const today = new Date();
  to.value = today.toISOString().slice(0, 10);
  from.value = new Date(today.getTime() - 29 * 86400000).toISOString().slice(0, 10);
  const update = () => document.querySelectorAll("a.timesheet").forEach((a) => {
    a.href = `/api/v1/vendors/${a.dataset.vendor}/timesheet/?date_from=${from.value}&date_to=${to.value}`;
  });
  from.addEventListener("change", update);
  to.addEventListener("change", update);
  update();
}

window.jointlyDashboard = { ready: false };
const jobs = new JobBars($("jobs"));
config.jobs.forEach((job) => jobs.add(job));
timesheetLinks();
draw();
