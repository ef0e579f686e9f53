// Metric charts shared by the run page and the compare page.
//
// A chart draws the server's downsampled series (GET runlab/metrics/downsampled): per bucket the
// last value, drawn as a line, and the min..max range, drawn as a faint band so a spike never
// disappears however long the series. Zooming fetches the visible step range again at full
// bucket resolution; a double click returns to the whole series.
//
// Pages give the chart element a fixed height in CSS (link charts.css, or set one of their own)
// so nothing moves while data loads. Plotly.js must be loaded first as a classic script: it
// defines window.Plotly.

import { get } from "runlab/api.js";
import { drawQuickChart } from "runlab/quickchart.js";

/** Most buckets asked for per series: more than a chart has pixels across. */
const MAX_BUCKETS = 2000;
const MIN_BUCKETS = 50;

const COLORS = [
  "#2557d6", "#d9480f", "#2b8a3e", "#ae3ec9", "#c92a2a",
  "#0c8599", "#e8590c", "#5c940d", "#862e9c", "#495057",
];

const X_TITLES = { step: "Step", wall: "Wall time (UTC)", relative: "Relative time (s)" };
/** Series of at most this many points are drawn with markers as well as a line. */
const SHORT_SERIES = 20;
/** Charts of more series than this have no legend. */
const MAX_LEGEND_ENTRIES = 12;

/** A proto3 JSON double ("NaN", "Infinity" or a number) as a number Plotly can use, or null. */
function finite(value) {
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

/** A time in ms as Plotly's date string in UTC (Plotly would otherwise show local time). */
function utcDate(millis) {
  return new Date(millis).toISOString().replace("T", " ").replace("Z", "");
}

/** Plotly's date string (always UTC here) back to ms. */
function parseUtcDate(text) {
  if (typeof text === "number") return text;
  return Date.parse(String(text).replace(" ", "T") + "Z");
}

/**
 * TensorBoard-style smoothing: an exponential moving average, debiased so the first points are
 * not pulled towards zero. Gaps (null) stay gaps and do not reset the average.
 */
export function smooth(values, weight) {
  if (!(weight > 0)) return values;
  let average = 0;
  let seen = 0;
  return values.map((v) => {
    if (v === null) return null;
    seen += 1;
    average = average * weight + (1 - weight) * v;
    return average / (1 - weight ** seen);
  });
}

/** ``color`` (#rrggbb, rgb() or hsl(), as pages pass them) made translucent. */
function withAlpha(color, alpha) {
  if (/^#[0-9a-f]{6}$/i.test(color)) {
    const n = parseInt(color.slice(1), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }
  const functional = /^(rgb|hsl)\((.*)\)$/i.exec(color.trim());
  if (functional) return `${functional[1]}a(${functional[2]}, ${alpha})`;
  return color; // a named colour: opaque, still the right hue
}

/** Where each bucket sits on the x axis, as a number (step, ms since epoch or seconds). */
function xNumbers(buckets, x, origin) {
  if (x === "wall") return buckets.map((b) => b.last_timestamp);
  if (x === "relative") return buckets.map((b) => (b.last_timestamp - origin) / 1000);
  return buckets.map((b) => b.last_step);
}

/** The Plotly traces of one series: its min/max band, its raw line and its smoothed line. */
function tracesOf(item, buckets, options, origin, color) {
  const xs = xNumbers(buckets, options.x, origin);
  const xValues = options.x === "wall" ? xs.map(utcDate) : xs;
  const steps = buckets.map((b) => b.last_step);
  const last = buckets.map((b) => finite(b.last));
  const traces = [];
  if (buckets.some((b) => b.count > 1)) {
    // Two traces make the band: the lower edge, then the upper one filled down to it.
    const band = { x: xValues, mode: "lines", line: { width: 0 }, hoverinfo: "skip",
      showlegend: false, legendgroup: item.label };
    traces.push({ ...band, y: buckets.map((b) => finite(b.min)) });
    traces.push({ ...band, y: buckets.map((b) => finite(b.max)), fill: "tonexty",
      fillcolor: withAlpha(color, 0.15) });
  }
  const smoothing = options.smoothing || 0;
  const hover = "%{y:.6g} · step %{customdata}<extra>%{fullData.name}</extra>";
  // A series of a few points (a final accuracy logged once, say) would be invisible as a bare
  // line, so short series also get markers.
  const mode = buckets.length <= SHORT_SERIES ? "lines+markers" : "lines";
  const line = { x: xValues, customdata: steps, mode, name: item.label,
    legendgroup: item.label, hovertemplate: hover, connectgaps: false };
  if (smoothing > 0) {
    // The raw line stays visible but faint, as in TensorBoard, so smoothing hides nothing.
    traces.push({ ...line, y: last, line: { color: withAlpha(color, 0.3), width: 1 },
      showlegend: false, hoverinfo: "skip", hovertemplate: undefined });
    traces.push({ ...line, y: smooth(last, smoothing), line: { color, width: 2 } });
  } else {
    traces.push({ ...line, y: last, line: { color, width: 1.5 } });
  }
  return traces;
}

/** The same series as ``tracesOf`` draws, as lines for the SVG drawn before Plotly is ready. */
function quickLinesOf(item, buckets, options, origin, color) {
  const x = xNumbers(buckets, options.x, origin);
  const last = buckets.map((b) => finite(b.last));
  const band = buckets.some((b) => b.count > 1)
    ? { low: buckets.map((b) => finite(b.min)), high: buckets.map((b) => finite(b.max)) }
    : {};
  const smoothing = options.smoothing || 0;
  if (smoothing > 0) {
    return [
      { x, y: last, color, faint: true, ...band },
      { x, y: smooth(last, smoothing), color },
    ];
  }
  return [{ x, y: last, color, ...band }];
}

let plotlyLoading = null;

/**
 * Plotly.js, loaded once per page on first need. Pages do not include it themselves: it takes
 * about a second to start, and nothing else on a page should wait for it. Its address is in
 * the page's ``<meta name="runlab-plotly">`` (the fingerprinted URL of the installed package's
 * file); a page that already loaded it (the compare page) is used as it is.
 */
export function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotlyLoading) {
    plotlyLoading = new Promise((resolve, reject) => {
      const meta = document.querySelector('meta[name="runlab-plotly"]');
      if (!meta) {
        reject(new Error("this page names no Plotly.js address"));
        return;
      }
      const script = document.createElement("script");
      script.src = meta.content;
      script.async = true;
      script.onload = () =>
        window.Plotly ? resolve(window.Plotly) : reject(new Error("Plotly.js did not start"));
      script.onerror = () => reject(new Error("Plotly.js did not load"));
      document.head.append(script);
    });
  }
  return plotlyLoading;
}

/** Build the chart's inner parts: the plot area and a message line over it. */
function scaffold(element) {
  element.classList.add("metric-chart");
  element.replaceChildren();
  const plot = document.createElement("div");
  plot.className = "metric-chart-plot";
  const message = document.createElement("p");
  message.className = "metric-chart-message";
  message.setAttribute("role", "status");
  message.hidden = true;
  element.append(plot, message);
  return { plot, message };
}

/**
 * Draw ``series`` ([{runId, key, label, color?}]) in ``element`` with ``options``
 * ({x: "step"|"wall"|"relative", smoothing: 0..0.99, logY: boolean, title?: string}).
 * Returns {update(options), destroy()}. Errors are shown inside the element.
 */
export function drawMetricChart(element, series, options) {
  const { plot, message } = scaffold(element);
  let current = { x: "step", smoothing: 0, logY: false, ...options };
  // The whole series of each item, fetched once; a zoom adds a finer view of one step range.
  const full = new Map();
  let zoom = null; // {xRange, startStep, endStep, data: Map} while zoomed in
  let generation = 0; // bumps on every new request so a slow, stale answer is dropped
  let destroyed = false;
  let listening = false;

  function say(text, isError = false) {
    message.textContent = text || "";
    message.hidden = !text;
    message.classList.toggle("is-error", isError);
    message.setAttribute("role", isError ? "alert" : "status");
  }

  function bucketCount() {
    const width = plot.clientWidth || element.clientWidth || 800;
    return Math.max(MIN_BUCKETS, Math.min(MAX_BUCKETS, Math.round(width)));
  }

  async function fetchAll(startStep, endStep) {
    const buckets = bucketCount();
    const answers = await Promise.allSettled(
      series.map((item) =>
        get("runlab/metrics/downsampled", {
          run_id: item.runId,
          metric_key: item.key,
          buckets,
          start_step: startStep,
          end_step: endStep,
        }),
      ),
    );
    const data = new Map();
    const failures = [];
    answers.forEach((answer, i) => {
      if (answer.status === "fulfilled") data.set(i, answer.value.buckets || []);
      else failures.push(`${series[i].label}: ${answer.reason.message}`);
    });
    return { data, failures };
  }

  /** Relative time counts from each series' first point of the whole series. */
  function originOf(i) {
    const buckets = full.get(i) || [];
    return buckets.length ? Math.min(...buckets.map((b) => b.last_timestamp)) : 0;
  }

  /** What ``build`` (tracesOf or quickLinesOf) makes of every series that has data. */
  function eachSeries(data, build) {
    return series.flatMap((item, i) => {
      const buckets = data.get(i);
      if (!buckets || !buckets.length) return [];
      return build(item, buckets, current, originOf(i), item.color || COLORS[i % COLORS.length]);
    });
  }

  /** The first drawing, in SVG, until Plotly.js is ready; then the same data again in Plotly. */
  function renderQuick(data, failures) {
    const lines = eachSeries(data, quickLinesOf);
    drawQuickChart(plot, lines, {
      xTitle: X_TITLES[current.x],
      xType: current.x === "wall" ? "date" : "linear",
      logY: current.logY,
    });
    const mine = generation;
    loadPlotly().then(
      () => {
        // A newer request redraws by itself; this one only upgrades what is still on screen.
        if (!destroyed && mine === generation) render(data, failures);
      },
      (err) => {
        if (!destroyed) say(`The interactive chart is unavailable: ${err.message}.`, true);
      },
    );
  }

  function render(data, failures) {
    if (destroyed) return;
    const traces = eachSeries(data, tracesOf);
    const empty = series.filter((_, i) => data.has(i) && !data.get(i).length).map((s) => s.label);
    const notes = [...failures];
    if (!traces.length && !failures.length) {
      notes.push(zoom ? "No points in this range (double-click to reset)." : "No data.");
    } else if (empty.length && !zoom) {
      notes.push(`No data for ${empty.join(", ")}.`);
    }
    // NaN and infinite values are gaps in the line; a series of nothing else would look empty.
    const unplottable = series.filter((_, i) => {
      const buckets = data.get(i);
      return buckets && buckets.length && buckets.every((b) => finite(b.last) === null);
    });
    if (unplottable.length) {
      notes.push(`Only NaN or infinite values in ${unplottable.map((s) => s.label).join(", ")}.`);
    }
    say(notes.join(" "), failures.length > 0);
    if (!window.Plotly) {
      renderQuick(data, failures);
      return;
    }
    // The SVG drawn while Plotly.js loaded makes way for the interactive chart.
    plot.querySelector(":scope > .quick-chart")?.remove();
    const xaxis = { title: { text: X_TITLES[current.x] }, type: current.x === "wall" ? "date" : "linear",
      zeroline: false };
    if (zoom) {
      xaxis.range = zoom.xRange;
      xaxis.autorange = false;
    }
    const layout = {
      margin: { l: 56, r: 16, t: current.title ? 32 : 12, b: 44 },
      title: current.title ? { text: current.title, font: { size: 14 }, x: 0.02 } : undefined,
      xaxis,
      yaxis: { type: current.logY ? "log" : "linear", autorange: true, zeroline: false },
      // Past a dozen runs a legend would crowd out the plot; hovering names each line instead.
      showlegend: series.length > 1 && series.length <= MAX_LEGEND_ENTRIES,
      legend: { orientation: "h", y: -0.22 },
      hovermode: "x unified",
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
    };
    const config = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };
    try {
      window.Plotly.react(plot, traces, layout, config);
    } catch (err) {
      say(`The chart could not be drawn: ${err.message}`, true);
      return;
    }
    if (!listening) {
      listening = true;
      plot.on("plotly_relayout", onRelayout);
    }
  }

  async function load() {
    const mine = ++generation;
    say("Loading…");
    const missing = series.map((_, i) => i).filter((i) => !full.has(i));
    let failures = [];
    if (missing.length) {
      try {
        const answer = await fetchAll();
        failures = answer.failures;
        answer.data.forEach((buckets, i) => full.set(i, buckets));
      } catch (err) {
        failures = [err.message];
      }
    }
    if (mine !== generation || destroyed) return;
    if (!zoom) {
      render(full, failures);
      return;
    }
    const { startStep, endStep } = zoom;
    const answer = await fetchAll(startStep, endStep);
    if (mine !== generation || destroyed) return;
    zoom.data = answer.data;
    zoom.failures = answer.failures;
    render(answer.data, answer.failures);
  }

  /** The step range behind a visible x range, from the buckets on screen. */
  function stepRange(xRange) {
    if (current.x === "step") {
      return { startStep: Math.floor(xRange[0]), endStep: Math.ceil(xRange[1]) };
    }
    const toNumber = current.x === "wall" ? parseUtcDate : Number;
    const [low, high] = xRange.map(toNumber);
    const shown = zoom && zoom.data ? zoom.data : full;
    let startStep = Infinity;
    let endStep = -Infinity;
    shown.forEach((buckets, i) => {
      if (!buckets.length) return;
      const xs = xNumbers(buckets, current.x, originOf(i));
      // One bucket beyond each edge keeps the line running to the edges of the view.
      let first = xs.findIndex((x) => x >= low);
      let last = xs.findLastIndex((x) => x <= high);
      if (first < 0) first = xs.length - 1;
      if (last < 0) last = 0;
      first = Math.max(0, Math.min(first, last) - 1);
      last = Math.min(xs.length - 1, Math.max(first, last) + 1);
      for (const b of buckets.slice(first, last + 1)) {
        startStep = Math.min(startStep, b.first_step);
        endStep = Math.max(endStep, b.last_step);
      }
    });
    return Number.isFinite(startStep) ? { startStep, endStep } : null;
  }

  function onRelayout(event) {
    if (destroyed) return;
    if (event["xaxis.autorange"] || event.autosize) {
      if (zoom && event["xaxis.autorange"]) {
        zoom = null;
        generation++;
        render(full, []);
      }
      return;
    }
    const xRange = event["xaxis.range"] || (
      "xaxis.range[0]" in event ? [event["xaxis.range[0]"], event["xaxis.range[1]"]] : null);
    if (!xRange) return;
    const steps = stepRange(xRange);
    if (!steps) return;
    zoom = { xRange, ...steps, data: null, failures: [] };
    load();
  }

  load();

  return {
    /** Redraw with new options; a new x axis shows the whole series again. */
    update(next) {
      const xChanged = next.x !== undefined && next.x !== current.x;
      current = { ...current, ...next };
      if (xChanged) zoom = null;
      generation++;
      if (zoom) {
        if (zoom.data) render(zoom.data, zoom.failures);
        else load();
      } else if (full.size === series.length) render(full, []);
      else load();
    },
    /** Stop listening and free Plotly's resources; the element is left empty. */
    destroy() {
      destroyed = true;
      generation++;
      if (window.Plotly) window.Plotly.purge(plot);
      element.replaceChildren();
    },
  };
}

let controlsMade = 0;

/**
 * A control bar for charts: x axis, smoothing and log scale, with labels. Calls
 * ``onChange(options)`` on every change; returns {element, options()}.
 */
export function chartControls(container, onChange, initial = {}) {
  const id = `chart-controls-${++controlsMade}`;
  const state = { x: "step", smoothing: 0, logY: false, ...initial };
  const bar = document.createElement("div");
  bar.className = "chart-controls";
  bar.setAttribute("role", "group");
  bar.setAttribute("aria-label", "Chart options");

  const xLabel = document.createElement("label");
  xLabel.htmlFor = `${id}-x`;
  xLabel.textContent = "X axis";
  const xSelect = document.createElement("select");
  xSelect.id = `${id}-x`;
  xSelect.name = "x";
  for (const [value, text] of [["step", "Step"], ["wall", "Wall time"], ["relative", "Relative time"]]) {
    xSelect.add(new Option(text, value, false, value === state.x));
  }

  const smoothLabel = document.createElement("label");
  smoothLabel.htmlFor = `${id}-smoothing`;
  smoothLabel.textContent = "Smoothing";
  const smoothInput = document.createElement("input");
  smoothInput.type = "range";
  smoothInput.id = `${id}-smoothing`;
  smoothInput.name = "smoothing";
  smoothInput.min = "0";
  smoothInput.max = "0.99";
  smoothInput.step = "0.01";
  smoothInput.value = String(state.smoothing);
  const smoothValue = document.createElement("output");
  smoothValue.htmlFor = smoothInput.id;
  smoothValue.textContent = Number(state.smoothing).toFixed(2);

  const logLabel = document.createElement("label");
  const logInput = document.createElement("input");
  logInput.type = "checkbox";
  logInput.name = "logY";
  logInput.checked = Boolean(state.logY);
  logLabel.append(logInput, " Log scale");

  bar.append(xLabel, xSelect, smoothLabel, smoothInput, smoothValue, logLabel);
  container.append(bar);

  // The slider fires many input events; redraw at most once per frame.
  let queued = false;
  function changed() {
    state.x = xSelect.value;
    state.smoothing = Number(smoothInput.value);
    state.logY = logInput.checked;
    smoothValue.textContent = state.smoothing.toFixed(2);
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      onChange({ ...state });
    });
  }
  xSelect.addEventListener("change", changed);
  smoothInput.addEventListener("input", changed);
  logInput.addEventListener("change", changed);
  return { element: bar, options: () => ({ ...state }) };
}

/** Call ``draw`` once, when ``element`` first scrolls near the viewport (lazy charts). */
export function whenVisible(element, draw) {
  if (!("IntersectionObserver" in window)) {
    draw();
    return () => {};
  }
  const observer = new IntersectionObserver(
    (entries) => {
      if (entries.some((e) => e.isIntersecting)) {
        observer.disconnect();
        draw();
      }
    },
    { rootMargin: "200px 0px" },
  );
  observer.observe(element);
  return () => observer.disconnect();
}
