/*
 * Skeleton change page: live SVG preview and drag-to-reorder keypoints.
 *
 * The preview is redrawn from the keypoint and edge inline rows whenever one
 * is edited, added or removed, with the same rules as preview_geometry() in
 * annotation/admin/skeletons.py: a keypoint with layout x/y sits there, the
 * others share a circle; fill is the keypoint's colour, the ring its side.
 *
 * Reordering only rewrites the named rows' `order` inputs (0, 1, 2, ... in
 * the order shown): the server sorts by them (blank last), so the page works
 * the same without this script, by editing the numbers.
 */
(function () {
  "use strict";

  const SVG_NS = "http://www.w3.org/2000/svg";
  const SIZE = 400;
  const PADDING = 24;
  // The side rules are the server's (annotation/services/skeletons.py SIDE_PREFIXES,
  // annotation/admin/skeletons.py SIDE_COLORS), handed over in the page; read in init().
  let SIDE_PREFIXES = {};
  let SIDE_COLORS = {};

  function readRules() {
    const element = document.getElementById("skeleton-preview-rules");
    const rules = element ? JSON.parse(element.textContent) : {};
    SIDE_PREFIXES = rules.side_prefixes || {};
    SIDE_COLORS = rules.side_colors || {};
  }

  function field(row, name) {
    return row.querySelector('[name$="-' + name + '"]');
  }

  function value(row, name) {
    const input = field(row, name);
    return input ? input.value.trim() : "";
  }

  function isDeleted(row) {
    const box = field(row, "DELETE");
    return Boolean(box && box.checked);
  }

  function dataRows(group) {
    if (!group) return [];
    return Array.from(group.querySelectorAll("tbody tr.form-row")).filter(
      (row) => !row.classList.contains("empty-form")
    );
  }

  function side(name, flipPartner) {
    const lowered = name.toLowerCase();
    for (const [named, prefixes] of Object.entries(SIDE_PREFIXES)) {
      if (prefixes.some((prefix) => lowered.startsWith(prefix))) return named;
    }
    return flipPartner ? "paired" : "centre";
  }

  function number(text) {
    if (text === "") return null;
    const parsed = Number(text);
    return Number.isFinite(parsed) ? parsed : null;
  }

  function readKeypoints(group) {
    const rows = dataRows(group)
      .map((row, position) => ({ row, position }))
      .filter(({ row }) => value(row, "name") !== "" && !isDeleted(row));
    rows.sort((a, b) => {
      const oa = number(value(a.row, "order"));
      const ob = number(value(b.row, "order"));
      if ((oa === null) !== (ob === null)) return oa === null ? 1 : -1;
      return (oa || 0) - (ob || 0) || a.position - b.position;
    });
    return rows.map(({ row }) => {
      const x = number(value(row, "layout_x"));
      const y = number(value(row, "layout_y"));
      return {
        name: value(row, "name"),
        color: value(row, "color"),
        flipPartner: value(row, "flip_partner"),
        layout: x !== null && y !== null ? [x, y] : null,
      };
    });
  }

  function readEdges(group) {
    return dataRows(group)
      .filter((row) => !isDeleted(row))
      .map((row) => [value(row, "source"), value(row, "target")])
      .filter(([a, b]) => a !== "" && b !== "");
  }

  function geometry(keypoints, edges) {
    const span = SIZE - 2 * PADDING;
    const unplaced = keypoints.map((kp, i) => i).filter((i) => !keypoints[i].layout);
    const normalized = keypoints.map((kp) => kp.layout);
    unplaced.forEach((i, j) => {
      const angle = (2 * Math.PI * j) / unplaced.length - Math.PI / 2;
      normalized[i] = [0.5 + 0.42 * Math.cos(angle), 0.5 + 0.42 * Math.sin(angle)];
    });
    const points = keypoints.map((kp, i) => {
      const s = side(kp.name, kp.flipPartner);
      return {
        index: i, name: kp.name, side: s, ring: SIDE_COLORS[s], color: kp.color || SIDE_COLORS[s],
        x: PADDING + normalized[i][0] * span, y: PADDING + normalized[i][1] * span,
      };
    });
    const byName = new Map(points.map((p) => [p.name, p]));
    const lines = edges
      .filter(([a, b]) => byName.has(a) && byName.has(b))
      .map(([a, b]) => ({ source: a, target: b, from: byName.get(a), to: byName.get(b) }));
    return { points, lines };
  }

  function svgElement(tag, attributes) {
    const element = document.createElementNS(SVG_NS, tag);
    Object.entries(attributes).forEach(([key, val]) => element.setAttribute(key, String(val)));
    return element;
  }

  function draw(svg, keypoints, edges) {
    const { points, lines } = geometry(keypoints, edges);
    const labelLimit = Number(svg.dataset.labelLimit || 30);
    const edgeLayer = svg.querySelector(".skeleton-preview-edges");
    const pointLayer = svg.querySelector(".skeleton-preview-keypoints");
    edgeLayer.replaceChildren(
      ...lines.map((l) => svgElement("line", {
        x1: l.from.x, y1: l.from.y, x2: l.to.x, y2: l.to.y, "data-source": l.source, "data-target": l.target,
      }))
    );
    pointLayer.replaceChildren(
      ...points.map((p) => {
        const group = svgElement("g", { class: "keypoint side-" + p.side, "data-name": p.name });
        const circle = svgElement("circle", { cx: p.x, cy: p.y, r: 6, fill: p.color, stroke: p.ring });
        const title = svgElement("title", {});
        title.textContent = p.index + ": " + p.name + " (" + p.side + ")";
        circle.appendChild(title);
        group.appendChild(circle);
        if (points.length <= labelLimit) {
          const label = svgElement("text", { x: p.x, y: p.y, dx: 8, dy: -8 });
          label.textContent = p.name;
          group.appendChild(label);
        }
        return group;
      })
    );
  }

  function updateNameList(datalist, keypoints) {
    if (!datalist) return;
    datalist.replaceChildren(
      ...keypoints.map((kp) => {
        const option = document.createElement("option");
        option.value = kp.name;
        return option;
      })
    );
  }

  /* --- reordering ------------------------------------------------------ */

  /* Only named rows are numbered: a blank extra row that got a number would
     count as filled in and fail validation. Blank orders sort last. */
  function renumber(group) {
    dataRows(group)
      .filter((row) => value(row, "name") !== "")
      .forEach((row, index) => {
        const input = field(row, "order");
        if (input) input.value = String(index);
      });
  }

  function addHandle(row) {
    const cell = row.querySelector("td.field-order");
    if (!cell || cell.querySelector(".keypoint-drag-handle")) return;
    const handle = document.createElement("button");
    handle.type = "button";
    handle.className = "keypoint-drag-handle";
    handle.draggable = true;
    handle.title = "Drag to reorder (or focus and press Alt+Up / Alt+Down)";
    handle.setAttribute("aria-label", "Move keypoint");
    handle.textContent = "\u2630";
    cell.prepend(handle);
  }

  function enableReordering(group, onChange) {
    const tbody = group.querySelector("tbody");
    if (!tbody) return;
    tbody.querySelectorAll("tr.form-row").forEach(addHandle);
    let dragged = null;

    tbody.addEventListener("dragstart", (event) => {
      const handle = event.target.closest && event.target.closest(".keypoint-drag-handle");
      if (!handle) return;
      dragged = handle.closest("tr");
      dragged.classList.add("keypoint-dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", "");
    });
    tbody.addEventListener("dragover", (event) => {
      if (!dragged) return;
      event.preventDefault();
      const over = event.target.closest("tr.form-row");
      if (!over || over === dragged || over.classList.contains("empty-form")) return;
      const box = over.getBoundingClientRect();
      const after = event.clientY > box.top + box.height / 2;
      tbody.insertBefore(dragged, after ? over.nextSibling : over);
    });
    tbody.addEventListener("drop", (event) => {
      if (dragged) event.preventDefault();
    });
    tbody.addEventListener("dragend", () => {
      if (!dragged) return;
      dragged.classList.remove("keypoint-dragging");
      dragged = null;
      renumber(group);
      onChange();
    });
    tbody.addEventListener("keydown", (event) => {
      const handle = event.target.closest && event.target.closest(".keypoint-drag-handle");
      if (!handle || !event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) return;
      event.preventDefault();
      const row = handle.closest("tr");
      const rows = dataRows(group);
      const index = rows.indexOf(row);
      const neighbour = rows[event.key === "ArrowUp" ? index - 1 : index + 1];
      if (!neighbour) return;
      tbody.insertBefore(row, event.key === "ArrowUp" ? neighbour : neighbour.nextSibling);
      handle.focus();
      renumber(group);
      onChange();
    });
  }

  function init() {
    const svg = document.getElementById("skeleton-preview");
    const keypointGroup = document.getElementById("keypoints-group");
    const edgeGroup = document.getElementById("edges-group");
    if (!svg || !keypointGroup) return;
    readRules();
    const datalist = document.getElementById("skeleton-keypoint-names");

    const refresh = () => {
      const keypoints = readKeypoints(keypointGroup);
      draw(svg, keypoints, readEdges(edgeGroup));
      updateNameList(datalist, keypoints);
    };

    [keypointGroup, edgeGroup].forEach((group) => {
      if (!group) return;
      group.addEventListener("input", refresh);
      group.addEventListener("change", refresh);
    });
    document.addEventListener("formset:added", (event) => {
      const prefix = event.detail && event.detail.formsetName;
      if (prefix === "keypoints") addHandle(event.target);
      refresh();
    });
    document.addEventListener("formset:removed", refresh);
    enableReordering(keypointGroup, refresh);
    refresh();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
