// A small SVG line chart (training curves, the order book's depth): axes with round ticks,
// lines (optionally stepped, filled or dashed) and a legend. Scales to its container's width.

export interface Line {
  name: string;
  color: string;
  points: [number, number][]; // x ascending; NaN y values break the line
  dash?: string; // stroke-dasharray
  step?: "before" | "after"; // a staircase (depth charts)
  fill?: boolean; // fill down to the x axis
}

export interface ChartOptions {
  id?: string;
  title?: string;
  width?: number;
  height?: number;
  lines: Line[];
  xLabel?: string;
  yFormat?: (v: number) => string;
  xFormat?: (v: number) => string;
  yMin?: number;
  yMax?: number;
  markX?: { x: number; label: string }; // a vertical marker (e.g. the best epoch)
}

const NS = "http://www.w3.org/2000/svg";

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// About `count` round values covering [lo, hi].
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export function lineChart(o: ChartOptions): SVGSVGElement {
  const W = o.width ?? 640;
  const H = o.height ?? 260;
  const m = { l: 56, r: 12, t: o.title ? 26 : 10, b: 50 };
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "svg-chart", role: "img" });
  if (o.id) svg.setAttribute("id", o.id);
  if (o.title) svg.appendChild(el("text", { x: m.l, y: 16, class: "svg-title" }, o.title));

  const xs: number[] = [];
  const ys: number[] = [];
  for (const l of o.lines)
    for (const [x, y] of l.points) {
      if (Number.isFinite(x)) xs.push(x);
      if (Number.isFinite(y)) ys.push(y);
    }
  if (xs.length === 0) {
    svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "svg-empty" }, "no data"));
    return svg;
  }
  let x0 = Math.min(...xs);
  let x1 = Math.max(...xs);
  let y0 = o.yMin ?? Math.min(...ys);
  let y1 = o.yMax ?? Math.max(...ys);
  if (x1 === x0) {
    x0 -= 1;
    x1 += 1;
  }
  if (y1 === y0) {
    y0 -= y0 === 0 ? 1 : Math.abs(y0) * 0.1;
    y1 += y1 === 0 ? 1 : Math.abs(y1) * 0.1;
  } else if (o.yMin === undefined || o.yMax === undefined) {
    const pad = (y1 - y0) * 0.05;
    if (o.yMin === undefined) y0 -= pad;
    if (o.yMax === undefined) y1 += pad;
  }
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const fx = o.xFormat ?? ((v: number) => String(v));
  const fy = o.yFormat ?? ((v: number) => String(Number(v.toPrecision(4))));

  const axes = el("g", { class: "svg-axes" });
  for (const t of ticks(y0, y1)) {
    axes.appendChild(el("line", { x1: m.l, x2: W - m.r, y1: py(t), y2: py(t), class: "svg-grid" }));
    axes.appendChild(el("text", { x: m.l - 6, y: py(t) + 4, "text-anchor": "end" }, fy(t)));
  }
  for (const t of ticks(x0, x1, 6)) {
    axes.appendChild(el("line", { x1: px(t), x2: px(t), y1: H - m.b, y2: H - m.b + 4, class: "svg-tick" }));
    axes.appendChild(el("text", { x: px(t), y: H - m.b + 16, "text-anchor": "middle" }, fx(t)));
  }
  axes.appendChild(el("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: "svg-axis" }));
  if (o.xLabel) axes.appendChild(el("text", { x: W - m.r, y: H - m.b + 30, "text-anchor": "end", class: "svg-label" }, o.xLabel));
  svg.appendChild(axes);
  if (o.markX && o.markX.x >= x0 && o.markX.x <= x1) {
    const x = px(o.markX.x);
    svg.appendChild(el("line", { x1: x, x2: x, y1: m.t, y2: H - m.b, class: "svg-mark", "stroke-dasharray": "3 3" }));
    svg.appendChild(el("text", { x: x + 4, y: m.t + 10, class: "svg-mark-label" }, o.markX.label));
  }

  for (const l of o.lines) {
    let d = "";
    let started = false;
    let prev: [number, number] | null = null;
    for (const [x, y] of l.points) {
      if (!Number.isFinite(y) || !Number.isFinite(x)) {
        started = false;
        prev = null;
        continue;
      }
      if (!started) {
        d += `M${px(x).toFixed(1)},${py(y).toFixed(1)}`;
        started = true;
      } else if (l.step && prev) {
        d += l.step === "after" ? `H${px(x).toFixed(1)}V${py(y).toFixed(1)}` : `V${py(y).toFixed(1)}H${px(x).toFixed(1)}`;
      } else {
        d += `L${px(x).toFixed(1)},${py(y).toFixed(1)}`;
      }
      prev = [x, y];
    }
    if (!d) continue;
    const g = el("g", { "data-series": l.name });
    if (l.fill) {
      const pts = l.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
      if (pts.length > 1) {
        const base = py(Math.max(y0, 0));
        g.appendChild(
          el("path", {
            d: `${d}V${base.toFixed(1)}H${px(pts[0][0]).toFixed(1)}Z`,
            fill: l.color,
            "fill-opacity": 0.18,
            stroke: "none",
          }),
        );
      }
    }
    g.appendChild(
      el("path", {
        d,
        fill: "none",
        stroke: l.color,
        "stroke-width": 2,
        "stroke-dasharray": l.dash ?? "",
        "stroke-linejoin": "round",
      }),
    );
    svg.appendChild(g);
  }

  // Legend along the bottom.
  let lx = m.l;
  const legend = el("g", { class: "svg-legend" });
  for (const l of o.lines) {
    legend.appendChild(el("line", { x1: lx, x2: lx + 18, y1: H - 8, y2: H - 8, stroke: l.color, "stroke-width": 2, "stroke-dasharray": l.dash ?? "" }));
    const t = el("text", { x: lx + 22, y: H - 4 }, l.name);
    legend.appendChild(t);
    lx += 30 + l.name.length * 6.2;
  }
  svg.appendChild(legend);
  return svg;
}
