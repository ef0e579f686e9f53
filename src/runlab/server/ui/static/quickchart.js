// A chart's first drawing, in plain SVG, while Plotly.js is still loading.
//
// Plotly.js is one 4.8 MB file whose start-up alone takes about a second on a small machine.
// Charts should not wait for it: as soon as a chart's data has arrived it is drawn here, with
// the same lines, bands, colours and axes, and charts.js swaps in the interactive Plotly chart
// (hover, zoom, finer detail) once Plotly.js is ready. This module knows nothing of the
// server: it draws the numbers it is given.

const SVG = "http://www.w3.org/2000/svg";
const MARGIN = { left: 56, right: 16, top: 12, bottom: 44 };
const TICKS = 5;

function node(name, attributes = {}, text = null) {
  const el = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) el.setAttribute(key, String(value));
  if (text !== null) el.textContent = text;
  return el;
}

/** About ``count`` round tick values covering [low, high] (1, 2 or 5 times a power of ten). */
export function niceTicks(low, high, count = TICKS) {
  if (!(high > low)) return [low];
  const raw = (high - low) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || 10 * power;
  const ticks = [];
  for (let t = Math.ceil(low / step) * step; t <= high + step * 1e-9; t += step) {
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  }
  return ticks;
}

function formatNumber(value) {
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude >= 1e5 || magnitude < 1e-3) return value.toExponential(1);
  return String(Number(value.toPrecision(6)));
}

function formatTime(millis, spanMillis) {
  const iso = new Date(millis).toISOString();
  // A span of days reads best as dates; within a day, as hours and minutes (UTC, as Plotly's).
  return spanMillis > 2 * 86_400_000 ? iso.slice(0, 10) : iso.slice(11, 16);
}

function extent(values) {
  let low = Infinity;
  let high = -Infinity;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) continue;
    if (v < low) low = v;
    if (v > high) high = v;
  }
  return low <= high ? [low, high] : null;
}

/**
 * Draw ``lines`` in ``element`` (emptied first) as a static SVG chart.
 *
 * ``lines`` is ``[{x: number[], y: (number|null)[], low?: [], high?: [], color, faint?}]``: x in
 * steps, seconds or ms since the epoch (``xType: "date"``); ``low``/``high`` draw a band.
 * ``options`` is ``{xTitle, xType: "linear"|"date", logY}``. Returns the SVG element, or null
 * when there is nothing to draw.
 */
export function drawQuickChart(element, lines, options) {
  const logY = Boolean(options.logY);
  const toY = (v) => (v === null || !Number.isFinite(v) || (logY && v <= 0) ? null : logY ? Math.log10(v) : v);
  const xs = extent(lines.flatMap((l) => l.x));
  const ys = extent(lines.flatMap((l) => [...l.y, ...(l.low || []), ...(l.high || [])].map(toY)));
  element.replaceChildren();
  if (!xs || !ys) return null;
  const width = Math.max(element.clientWidth, 200);
  const height = Math.max(element.clientHeight, 120);
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  // A flat series still gets a visible band of y around it.
  const [y0, y1] = ys[0] === ys[1] ? [ys[0] - 1, ys[1] + 1] : ys;
  const [x0, x1] = xs[0] === xs[1] ? [xs[0] - 1, xs[1] + 1] : xs;
  const px = (x) => MARGIN.left + ((x - x0) / (x1 - x0)) * plotW;
  const py = (y) => MARGIN.top + (1 - (y - y0) / (y1 - y0)) * plotH;

  const svg = node("svg", {
    class: "quick-chart",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": `Chart of ${lines.length} series (interactive chart loading)`,
  });
  const axes = node("g", { class: "quick-axes" });
  for (const t of niceTicks(y0, y1)) {
    const y = py(t);
    axes.append(node("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: y, y2: y, class: "grid" }));
    const label = logY ? formatNumber(10 ** t) : formatNumber(t);
    axes.append(node("text", { x: MARGIN.left - 6, y: y + 4, "text-anchor": "end" }, label));
  }
  for (const t of niceTicks(x0, x1)) {
    const x = px(t);
    axes.append(node("line", { x1: x, x2: x, y1: MARGIN.top, y2: MARGIN.top + plotH, class: "grid" }));
    const label = options.xType === "date" ? formatTime(t, x1 - x0) : formatNumber(t);
    axes.append(node("text", { x, y: MARGIN.top + plotH + 16, "text-anchor": "middle" }, label));
  }
  axes.append(
    node("text", { x: MARGIN.left + plotW / 2, y: height - 6, "text-anchor": "middle", class: "title" }, options.xTitle || ""),
  );
  svg.append(axes);

  for (const line of lines) {
    if (line.low && line.high) {
      // The band: along the upper edge, then back along the lower one.
      const upper = [];
      const lower = [];
      line.x.forEach((x, i) => {
        const lo = toY(line.low[i]);
        const hi = toY(line.high[i]);
        if (lo === null || hi === null) return;
        upper.push(`${px(x).toFixed(1)},${py(hi).toFixed(1)}`);
        lower.push(`${px(x).toFixed(1)},${py(lo).toFixed(1)}`);
      });
      if (upper.length > 1) {
        svg.append(node("polygon", { points: [...upper, ...lower.reverse()].join(" "), fill: line.color, "fill-opacity": 0.15 }));
      }
    }
    let d = "";
    let pen = false;
    let lastX = null;
    line.x.forEach((x, i) => {
      const y = toY(line.y[i]);
      if (y === null) {
        pen = false; // NaN, infinite or non-positive on a log scale: a gap, as in Plotly
        return;
      }
      d += `${pen ? "L" : "M"}${px(x).toFixed(1)},${py(y).toFixed(1)}`;
      pen = true;
      lastX = x;
    });
    if (!d) continue;
    const path = node("path", {
      d,
      class: "quick-line",
      fill: "none",
      stroke: line.color,
      "stroke-width": line.faint ? 1 : 1.5,
      "stroke-opacity": line.faint ? 0.3 : 1,
    });
    if (lastX !== null) path.dataset.xLast = String(lastX);
    svg.append(path);
  }
  element.append(svg);
  return svg;
}
