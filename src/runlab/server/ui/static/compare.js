// The compare page: overlaid metric charts, parallel coordinates, a scatter of two columns and
// the "only differences" switch of the table. Params and latest metrics come from the JSON the
// server embedded in the page (#compare-data); only the metric charts fetch their series.

import { notify } from "runlab/api.js";
import { enableRowNavigation } from "runlab/keyboard.js";

/** Plotly's parcoords draws at most this many axes. */
const MAX_DIMENSIONS = 60;
/** Beyond this many points, scatter labels would cover each other: names show on hover only. */
const MAX_LABELLED_POINTS = 30;
const PLOT_CONFIG = { responsive: true, displaylogo: false };
const collator = new Intl.Collator(undefined, { numeric: true });

const data = JSON.parse(document.getElementById("compare-data").textContent);
const runs = data.runs;
const columns = new Map(data.columns.map((c) => [`${c.kind}:${c.key}`, c]));

/** Plotly reads a few HTML tags and entities in text; a run name must show as typed. */
function plain(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Long keys and values would overlap on an axis: keep the start, the hover has the rest. */
function short(text, length = 24) {
  const s = String(text);
  return s.length > length ? `${s.slice(0, length - 1)}…` : s;
}

/** A param (always a string) or a metric as a number, or null when it is not one. */
function asNumber(value) {
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value !== "string" || value.trim() === "") return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

/** Each run's label in charts: its name, with the id's start when two runs share a name. */
const labels = (() => {
  const counts = new Map();
  runs.forEach((r) => counts.set(r.name, (counts.get(r.name) || 0) + 1));
  return runs.map((r) => plain(counts.get(r.name) > 1 ? `${r.name} (${r.id.slice(0, 8)})` : r.name));
})();

/** Replace a plot box's content with a message (an error, or a hint why nothing is drawn). */
function showMessage(box, text, isError = false) {
  if (window.Plotly) window.Plotly.purge(box);
  // Purging drops Plotly's event handlers: the next plot binds them again.
  delete box.dataset.clickBound;
  const p = document.createElement("p");
  p.className = `plot-message ${isError ? "error" : "hint"}`;
  if (isError) p.setAttribute("role", "alert");
  p.textContent = text;
  box.replaceChildren(p);
}

/** Draw with Plotly into ``box``, or say in the box why that is not possible. */
function plot(box, traces, layout) {
  if (!window.Plotly) {
    showMessage(box, "Plots are unavailable: Plotly.js did not load.", true);
    return false;
  }
  box.querySelectorAll(":scope > .plot-message").forEach((p) => p.remove());
  window.Plotly.react(box, traces, layout, PLOT_CONFIG);
  return true;
}

/**
 * A note in the plot's margin, above it (``top``) or below it: inside the fixed-height box, so
 * nothing around the plot moves.
 */
function noteAnnotation(text, top) {
  const where = top ? { y: 1, yshift: 6, yanchor: "bottom" } : { y: 0, yshift: -32, yanchor: "top" };
  return text
    ? [{ text: plain(text), xref: "paper", yref: "paper", x: 0, xanchor: "left", ...where,
        showarrow: false, font: { size: 12, color: "#5b6475" } }]
    : [];
}

function leftOut(count, why) {
  if (!count) return "";
  return `${count} run${count === 1 ? "" : "s"} without ${why} ${count === 1 ? "is" : "are"} not shown.`;
}

// -- parallel coordinates: params → the chosen metric ----------------------------------------

/** One parcoords axis: numeric when every value is a number, else one tick per distinct value. */
function dimension(label, values) {
  const numbers = values.map(asNumber);
  if (numbers.every((n) => n !== null)) {
    const low = Math.min(...numbers);
    const high = Math.max(...numbers);
    // A one-value axis still needs a span, or Plotly draws every line off its end.
    const range = low === high ? [low - 1, high + 1] : [low, high];
    return { label: plain(short(label)), values: numbers, range };
  }
  const names = values.map((v) => (v === null ? "(none)" : String(v)));
  const categories = [...new Set(names)].sort(collator.compare);
  return {
    label: plain(short(label)),
    values: names.map((n) => categories.indexOf(n)),
    tickvals: categories.map((_, i) => i),
    // Parcoords writes tick text as plain text (no entities): escaping would show "&lt;".
    ticktext: categories.map((c) => short(c, 16)),
    range: [0, Math.max(categories.length - 1, 1)],
  };
}

function drawParallel() {
  const box = document.getElementById("parcoords");
  const select = document.getElementById("parallel-metric");
  if (!select) {
    showMessage(box, "None of these runs has logged a metric to plot the params against.");
    return;
  }
  const metric = columns.get(`metric:${select.value}`);
  const kept = runs.map((_, i) => i).filter((i) => metric.values[i] !== null);
  if (!kept.length) {
    showMessage(box, `No run has a finite value of ${metric.key}.`);
    return;
  }
  const chosen = [...document.querySelectorAll("#parallel-params input[name=param]:checked")];
  const shown = chosen.slice(0, MAX_DIMENSIONS - 1).map((box) => columns.get(`param:${box.value}`));
  const colors = kept.map((i) => metric.values[i]);
  const dimensions = shown.map((c) => dimension(c.key, kept.map((i) => c.values[i])));
  dimensions.push({ label: plain(short(metric.key)), values: colors });
  const notes = [leftOut(runs.length - kept.length, metric.key)];
  if (!document.getElementById("parallel-params")) {
    notes.push("These runs have no params.");
  } else if (!chosen.length) {
    notes.push("Choose params above to draw them as axes.");
  } else if (chosen.length > shown.length) {
    notes.push(`Only the first ${shown.length} chosen params are drawn.`);
  }
  const trace = {
    type: "parcoords",
    dimensions,
    line: {
      color: colors,
      colorscale: "Viridis",
      showscale: true,
      colorbar: { title: { text: plain(short(metric.key, 16)), side: "right" }, thickness: 12 },
    },
  };
  const layout = {
    // The right margin holds the colour bar clear of the last axis's tick labels.
    margin: { l: 60, r: 110, t: 56, b: 56 },
    annotations: noteAnnotation(notes.filter(Boolean).join(" "), false),
    paper_bgcolor: "rgba(0,0,0,0)",
  };
  plot(box, [trace], layout);
}

// -- scatter of any two columns --------------------------------------------------------------

/** The values of one column for the given runs, and the axis type they need. */
function axisValues(column, indexes) {
  const values = indexes.map((i) => column.values[i]);
  const numbers = values.map(asNumber);
  if (numbers.every((n) => n !== null)) return { values: numbers, type: "linear" };
  return { values: values.map((v) => plain(v)), type: "category" };
}

/** A numeric axis may be logarithmic when asked and every value is above zero. */
function axisLayout(column, axis, wantLog) {
  const log = wantLog && axis.type === "linear" && axis.values.every((v) => v > 0);
  return {
    title: { text: plain(short(column.key, 48)) + (wantLog && !log ? " (log needs values > 0)" : "") },
    type: log ? "log" : axis.type,
    categoryorder: "category ascending",
    automargin: true,
    zeroline: false,
  };
}

function drawScatter() {
  const box = document.getElementById("scatter");
  const xSelect = document.getElementById("scatter-x");
  const ySelect = document.getElementById("scatter-y");
  if (!xSelect || !ySelect) {
    showMessage(box, "These runs have no params or metrics to plot.");
    return;
  }
  const x = columns.get(xSelect.value);
  const y = columns.get(ySelect.value);
  const kept = runs.map((_, i) => i).filter((i) => x.values[i] !== null && y.values[i] !== null);
  if (!kept.length) {
    showMessage(box, `No run has both ${x.key} and ${y.key}.`);
    return;
  }
  const xs = axisValues(x, kept);
  const ys = axisValues(y, kept);
  const trace = {
    type: "scatter",
    mode: kept.length <= MAX_LABELLED_POINTS ? "markers+text" : "markers",
    x: xs.values,
    y: ys.values,
    text: kept.map((i) => labels[i]),
    customdata: kept.map((i) => runs[i].id),
    textposition: "top center",
    cliponaxis: false,
    marker: { color: kept.map((i) => runs[i].color), size: 11, line: { width: 1, color: "#fff" } },
    hovertemplate: "<b>%{text}</b><br>x: %{x}<br>y: %{y}<extra></extra>",
  };
  const layout = {
    margin: { l: 64, r: 24, t: 32, b: 56 },
    xaxis: axisLayout(x, xs, document.getElementById("scatter-log-x").checked),
    yaxis: axisLayout(y, ys, document.getElementById("scatter-log-y").checked),
    hovermode: "closest",
    annotations: noteAnnotation(leftOut(runs.length - kept.length, "both values"), true),
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
  };
  if (plot(box, [trace], layout) && !box.dataset.clickBound) {
    box.dataset.clickBound = "1";
    // A point is a run: clicking it opens the run's page.
    box.on("plotly_click", (event) => {
      const id = event.points && event.points[0] && event.points[0].customdata;
      if (id) window.location.href = `/runs/${encodeURIComponent(id)}`;
    });
  }
}

// -- overlaid metric charts ------------------------------------------------------------------

/** One series of ``key`` per run that logged it, in the run's colour. */
function seriesOf(key) {
  const present = columns.get(`metric:${key}`).present;
  return runs
    .map((r, i) => ({ runId: r.id, key, label: labels[i], color: r.color }))
    .filter((_, i) => present[i]);
}

async function setUpCharts() {
  const picker = document.getElementById("chart-metrics");
  if (!picker) return;
  const grid = document.getElementById("metric-charts");
  const failed = (message) => {
    const box = document.getElementById("charts-error");
    box.textContent = message;
    box.hidden = false;
  };
  let charts;
  try {
    charts = await import("runlab/charts.js");
  } catch (err) {
    failed(`The metric charts could not be loaded: ${err.message}`);
    return;
  }
  const shown = new Map(); // metric key → {figure, chart, stop}
  let options = { x: "step", smoothing: 0, logY: false };
  const controls = charts.chartControls(document.getElementById("chart-controls"), (next) => {
    options = next;
    shown.forEach((entry) => entry.chart && entry.chart.update(next));
  });
  options = controls.options();

  function figureOf(key) {
    const existing = [...grid.children].find((f) => f.dataset.metric === key);
    if (existing) return existing;
    const figure = document.createElement("figure");
    figure.className = "compare-chart";
    figure.dataset.metric = key;
    const caption = document.createElement("figcaption");
    caption.textContent = key;
    const box = document.createElement("div");
    box.className = "metric-chart";
    figure.append(caption, box);
    // Keep the charts in the order of the checkboxes.
    const order = [...picker.querySelectorAll("input[name=metric]")].map((b) => b.value);
    const after = [...grid.children].find((f) => order.indexOf(f.dataset.metric) > order.indexOf(key));
    grid.insertBefore(figure, after || null);
    return figure;
  }

  function show(key) {
    if (shown.has(key)) return;
    const figure = figureOf(key);
    const box = figure.querySelector(".metric-chart");
    const entry = { figure, chart: null, stop: null };
    shown.set(key, entry);
    // Charts below the fold fetch their series when they are about to be seen.
    entry.stop = charts.whenVisible(box, () => {
      try {
        entry.chart = charts.drawMetricChart(box, seriesOf(key), options);
      } catch (err) {
        showMessage(box, `The chart of ${key} could not be drawn: ${err.message}`, true);
      }
    });
  }

  function hide(key) {
    const entry = shown.get(key);
    if (!entry) return;
    entry.stop();
    if (entry.chart) entry.chart.destroy();
    entry.figure.remove();
    shown.delete(key);
  }

  picker.addEventListener("change", (event) => {
    const box = event.target;
    if (box.name !== "metric") return;
    if (box.checked) show(box.value);
    else hide(box.value);
  });
  picker.querySelectorAll("input[name=metric]").forEach((box) => {
    if (box.checked) show(box.value);
  });
  // Boxes the server drew for metrics the browser restored as unchecked go away.
  [...grid.children].forEach((f) => {
    if (!shown.has(f.dataset.metric)) f.remove();
  });
}

// -- the params/metrics table ----------------------------------------------------------------

function setUpDifferences() {
  const toggle = document.getElementById("only-differences");
  const table = document.getElementById("compare-values");
  function apply() {
    const only = toggle.checked;
    for (const body of table.tBodies) {
      const rows = [...body.querySelectorAll("tr.same, tr.differs")];
      rows.forEach((row) => {
        if (row.classList.contains("same")) row.hidden = only;
      });
      // A section left empty says why instead of vanishing.
      if (rows.length) body.querySelector("tr.none").hidden = rows.some((row) => !row.hidden);
    }
    // One shown row keeps the table's Tab stop, also when the row that had it was hidden.
    const all = [...table.querySelectorAll("tbody tr.same, tbody tr.differs")];
    const visible = all.filter((row) => !row.hidden);
    const stop = visible.find((row) => row.tabIndex === 0) || visible[0];
    all.forEach((row) => {
      row.tabIndex = row === stop ? 0 : -1;
    });
    enableRowNavigation(table);
  }
  toggle.addEventListener("change", apply);
  // The browser may restore the box's state on reload; the rows must agree with it.
  apply();
}

/** Run one part of the page; a failure is shown, and the other parts still work. */
function guarded(name, part, box) {
  try {
    const result = part();
    if (result && result.catch) result.catch((err) => notify(`${name}: ${err.message}`));
  } catch (err) {
    if (box) showMessage(box, `${name} could not be drawn: ${err.message}`, true);
    else notify(`${name}: ${err.message}`);
  }
}

guarded("Only differences", setUpDifferences);
guarded("The parallel coordinates", drawParallel, document.getElementById("parcoords"));
guarded("The scatter", drawScatter, document.getElementById("scatter"));
guarded("The metric charts", setUpCharts);
for (const id of ["parallel-metric", "parallel-params"]) {
  document.getElementById(id)?.addEventListener("change", () =>
    guarded("The parallel coordinates", drawParallel, document.getElementById("parcoords")),
  );
}
for (const id of ["scatter-x", "scatter-y", "scatter-log-x", "scatter-log-y"]) {
  document.getElementById(id)?.addEventListener("change", () =>
    guarded("The scatter", drawScatter, document.getElementById("scatter")),
  );
}
