// A trade or aggregate-trade collection: the tape (the newest trades) and a price line (the last
// price of each second) over the newest few thousand trades; new trades every 2 s.

import { ColorType, LineSeries, createChart, type LineData, type UTCTimestamp } from "lightweight-charts";
import { errorText, isAbort } from "../api";
import { records, tail } from "../data-api";
import { h, int, utc, utcTime } from "../dom";
import type { TradeLike } from "../types";
import type { ViewContext } from "./data";

const TAPE = 100; // rows of the tape
const LINE = 5000; // trades behind the price line

export function tradeView(ctx: ViewContext): void {
  const { scope, coll, symbol } = ctx;
  const id = (t: TradeLike) => t.agg_id ?? t.trade_id ?? t.time;
  const time = (t: TradeLike) => t.time;
  let trades: TradeLike[] = [];

  const chartEl = h("div#trade-chart.chart.chart-short", { "data-points": 0 });
  const tape = h("tbody");
  const note = h("p#trades-note.muted.small-text", null, "Loading trades…");
  ctx.el.replaceChildren(
    h(
      "div.split",
      null,
      h("div.split-main", null, chartEl, note),
      h(
        "div.split-side",
        null,
        h("h2", null, "Tape"),
        h(
          "table#tape.grid.static.compact",
          { "data-rows": 0 },
          h("thead", null, h("tr", null, ["time (UTC)", "price", "qty", "side"].map((c) => h("th", null, c)))),
          tape,
        ),
      ),
    ),
  );

  const chart = createChart(chartEl, {
    autoSize: true,
    layout: { background: { type: ColorType.Solid, color: "#ffffff" }, textColor: "#1f2937" },
    grid: { vertLines: { color: "#eef1f5" }, horzLines: { color: "#eef1f5" } },
    timeScale: { timeVisible: true, secondsVisible: true, borderColor: "#d0d7e2" },
    rightPriceScale: { borderColor: "#d0d7e2" },
  });
  scope.add(() => chart.remove());
  const line = chart.addSeries(LineSeries, { color: "#2563eb", lineWidth: 2 });

  function draw(): void {
    // One point a second (the chart needs strictly increasing times): its last trade's price.
    const points: LineData[] = [];
    for (const t of trades) {
      const s = Math.floor(t.time / 1000) as UTCTimestamp;
      const p = Number(t.price);
      if (points.length && points[points.length - 1].time === s) points[points.length - 1].value = p;
      else points.push({ time: s, value: p });
    }
    line.setData(points);
    chartEl.dataset.points = String(points.length);
    const newest = trades.slice(-TAPE).reverse();
    tape.replaceChildren(
      ...newest.map((t) =>
        h(
          "tr",
          { class: t.is_buyer_maker ? "sell" : "buy", "data-id": id(t) },
          h("td", { title: utc(t.time) }, utcTime(t.time)),
          h("td.num", null, t.price),
          h("td.num", null, t.qty),
          h("td", null, t.is_buyer_maker ? "sell" : "buy"),
        ),
      ),
    );
    (tape.parentElement as HTMLElement).dataset.rows = String(newest.length);
    note.className = "muted small-text";
    note.textContent = trades.length
      ? `${int(trades.length)} newest trades of ${symbol}: ${utc(trades[0].time)} to ${utc(trades[trades.length - 1].time)} UTC`
      : `No trades of ${symbol}.`;
  }

  async function initial(): Promise<void> {
    try {
      const end = (coll.last_time ?? Date.now()) + 1;
      trades = await tail<TradeLike>(coll.name, { symbol }, end, coll.first_time ?? 0, LINE, 60000, time, id, scope.signal);
      trades.sort((a, b) => a.time - b.time || id(a) - id(b));
      draw();
      chart.timeScale().fitContent();
    } catch (e) {
      if (isAbort(e)) return;
      note.className = "error-text";
      note.textContent = `Cannot load trades: ${errorText(e)}`;
    }
  }

  let polling = false;
  scope.interval(() => {
    if (polling || document.visibilityState !== "visible" || trades.length === 0) return;
    polling = true;
    const lastT = trades[trades.length - 1];
    records<TradeLike>(coll.name, { symbol, from: lastT.time, to: Math.max(Date.now(), lastT.time) + 3600000, limit: 10000 }, scope.signal)
      .then((r) => {
        const fresh = r.records.filter((t) => id(t) > id(lastT));
        if (scope.disposed || fresh.length === 0) return;
        trades = trades.concat(fresh).slice(-LINE);
        draw();
      })
      .catch(() => {})
      .finally(() => {
        polling = false;
      });
  }, 2000);

  void initial();
}
