// The project dashboard: charts of the numbers /dashboard/projects/{id}/data/ returns (one query per chart),
// drawn by plotly.js; running jobs as live progress bars; a button that starts a project rescore.

import { api } from "../editor/api.js";
import { JobBars, LAYOUT, PLOT_CONFIG, plotly } from "./jobs.js";

const $ = (id) => document.getElementById(id);
const config = JSON.parse($("dashboard-config").textContent);
const STAGES = { submitted: "labels submitted", scored: "images scored", decided: "QA decisions" };

function cumulative(rows, stage, days) {
  const per = new Map(rows.filter((r) => r.stage === stage).map((r) => [r.day, r.n]));
  let total = 0;
  return days.map((d) => (total += per.get(d) || 0));
}

/** Each chart from its own request, all sent at once; a chart is drawn as soon as its numbers arrive. */
const DRAW = {
  status(Plotly, data) {
    const statuses = Object.keys(data.status);
    return ["chart-status", [{ type: "bar", x: statuses, y: statuses.map((s) => data.status[s]), name: "images" }], { showlegend: false }];
  },
  daily(Plotly, data) {
    const days = [...new Set(data.daily.map((r) => r.day))].sort();
    // Whole days on the axis, even when the project is one day old.
    const dayAxis = { type: "date", tickformat: "%b %d", ...(days.length < 3 ? { dtick: 86400000 } : {}) };
    const submitted = data.daily.filter((r) => r.stage === "submitted");
    plot(Plotly, "chart-throughput", [{ type: "bar", x: submitted.map((r) => r.day), y: submitted.map((r) => r.n), name: "labels per day" }], { showlegend: false, xaxis: dayAxis });
    return ["chart-progress", Object.entries(STAGES).map(([stage, name]) => ({ type: "scatter", mode: "lines+markers", x: days, y: cumulative(data.daily, stage, days), name })), { xaxis: dayAxis }];
  },
  histogram(Plotly, { histogram: h }) {
    return ["chart-histogram", [{ type: "bar", x: h.counts.map((_, i) => (h.edges[i] + h.edges[i + 1]) / 2), y: h.counts, width: 1 / h.counts.length, name: "images" }],
      { showlegend: false, xaxis: { title: { text: "agreement" }, range: [0, 1] }, yaxis: { title: { text: "images" } } }];
  },
  keypoints(Plotly, data) {
    $("keypoints-missing").hidden = Boolean(data.keypoints);
    if (!data.keypoints) return null;
    return ["chart-keypoints", [{ type: "bar", orientation: "h", y: data.keypoints.names, x: data.keypoints.agreement, name: "agreement" }],
      { showlegend: false, margin: { l: 110, r: 12, t: 8, b: 30 }, xaxis: { range: [0, 1] }, yaxis: { autorange: "reversed" } }];
  },
  outcomes(Plotly, { outcomes: o }) {
    return ["chart-outcomes", [{ type: "pie", labels: ["auto-accepted", "sent to review", "sent back for rework"], values: [o.auto_accepted, o.needs_review, o.rework], hole: 0.4, sort: false }]];
  },
  queue_age(Plotly, data) {
    return ["chart-queue", [{ type: "bar", x: data.queue_age.map((r) => r.age), y: data.queue_age.map((r) => r.tasks), name: "open tasks" }], { showlegend: false }];
  },
};

function plot(Plotly, id, traces, layout = {}) {
  return Plotly.react(id, traces, { ...LAYOUT, ...layout }, PLOT_CONFIG).then(() => {
    window.jointlyDashboard.drawn.push({ id, at: performance.now() });
  });
}

function draw() {
  const plotlyReady = plotly();
  return Promise.all(Object.entries(DRAW).map(async ([chart, build]) => {
    const [{ body }, Plotly] = await Promise.all([api("GET", `${config.urls.data}?chart=${chart}`), plotlyReady]);
    const spec = build(Plotly, body);
    if (spec) await plot(Plotly, ...spec);
  }));
}

window.jointlyDashboard = { drawn: [], started: performance.now() };
const jobs = new JobBars($("jobs"));
window.jointlyDashboard.jobs = jobs;
config.jobs.forEach((job) => jobs.add(job));
jobs.onDone = (job) => { if (job.state === "finished") draw(); };
$("rescore").addEventListener("click", async () => {
  $("rescore").disabled = true;
  try {
    const { body: job } = await api("POST", config.urls.rescore);
    jobs.add({ ...job, url: `/api/v1/jobs/${job.id}/`, cancel: null });
  } catch (error) {
    $("jobs").append(Object.assign(document.createElement("p"), { className: "error", textContent: error.message }));
  } finally {
    $("rescore").disabled = false;
  }
});
draw();
