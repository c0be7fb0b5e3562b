// A candle collection: a lightweight-charts (v5) candlestick chart with a volume histogram.
// The newest ~2000 candles first; panning or zooming towards the left edge loads the range
// before (visible logical range changes). Missing candles stay gaps: whitespace points at the
// absent open times. #chart[data-candles] is the number of candles drawn.

import {
  CandlestickSeries,
  ColorType,
  HistogramSeries,
  createChart,
  type CandlestickData,
  type HistogramData,
  type IChartApi,
  type LogicalRange,
  type UTCTimestamp,
  type WhitespaceData,
} from "lightweight-charts";
import { errorText, isAbort } from "../api";
import { intervalMs, records, recordsAll } from "../data-api";
import { h, int, utc } from "../dom";
import type { Candle } from "../types";
import type { ViewContext } from "./data";

const PAGE = 2000; // candles a load asks for
const MAX_GAP_POINTS = 5000; // whitespace points for one gap at most (longer gaps are squeezed)

export function candleView(ctx: ViewContext): void {
  const { scope, coll, symbol, interval } = ctx;
  const iv = intervalMs(interval);
  const first = coll.first_time ?? 0;
  const last = coll.last_time ?? Date.now();
  let candles: Candle[] = []; // ascending open_time, one per open time
  let loadingOlder = false;
  let exhausted = false; // nothing before the earliest candle loaded

  const chartEl = h("div#chart.chart", { "data-candles": 0, "data-gaps": 0, "data-loading": "true" });
  const note = h("p#chart-note.muted.small-text");
  ctx.el.replaceChildren(chartEl, note);

  const chart: IChartApi = createChart(chartEl, {
    autoSize: true,
    layout: { background: { type: ColorType.Solid, color: "#ffffff" }, textColor: "#1f2937" },
    grid: { vertLines: { color: "#eef1f5" }, horzLines: { color: "#eef1f5" } },
    timeScale: { timeVisible: iv < 86400000, secondsVisible: iv < 60000, borderColor: "#d0d7e2" },
    rightPriceScale: { borderColor: "#d0d7e2" },
    crosshair: { mode: 0 },
  });
  scope.add(() => chart.remove());
  const price = chart.addSeries(CandlestickSeries, {
    upColor: "#16a34a",
    downColor: "#dc2626",
    borderVisible: false,
    wickUpColor: "#16a34a",
    wickDownColor: "#dc2626",
  });
  const volume = chart.addSeries(HistogramSeries, { priceFormat: { type: "volume" }, priceScaleId: "", lastValueVisible: false });
  volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  price.priceScale().applyOptions({ scaleMargins: { top: 0.05, bottom: 0.25 } });

  const key = (c: Candle) => c.open_time;
  // Only what the chart draws: a page of candles is then less than half the bytes.
  const query = {
    symbol: symbol || undefined,
    interval: interval || undefined,
    fields: ["open_time", "open", "high", "low", "close", "volume"],
  };

  function draw(): void {
    const bars: (CandlestickData | WhitespaceData)[] = [];
    const vols: (HistogramData | WhitespaceData)[] = [];
    let gaps = 0;
    let prev: number | null = null;
    for (const c of candles) {
      if (prev !== null && iv > 0 && c.open_time - prev > iv && !interval.endsWith("M")) {
        gaps++;
        const missing = Math.round((c.open_time - prev) / iv) - 1;
        const step = missing > MAX_GAP_POINTS ? ((c.open_time - prev) / (MAX_GAP_POINTS + 1)) : iv;
        for (let t = prev + step; t < c.open_time - step / 2; t += step) {
          const time = Math.floor(t / 1000) as UTCTimestamp;
          bars.push({ time });
          vols.push({ time });
        }
      }
      const time = Math.floor(c.open_time / 1000) as UTCTimestamp;
      const o = Number(c.open);
      const cl = Number(c.close);
      bars.push({ time, open: o, high: Number(c.high), low: Number(c.low), close: cl });
      vols.push({ time, value: Number(c.volume), color: cl >= o ? "rgba(22,163,74,0.45)" : "rgba(220,38,38,0.45)" });
      prev = c.open_time;
    }
    price.setData(bars);
    volume.setData(vols);
    chartEl.dataset.candles = String(candles.length);
    chartEl.dataset.gaps = String(gaps);
    chartEl.dataset.first = candles.length ? String(candles[0].open_time) : "";
    chartEl.dataset.last = candles.length ? String(candles[candles.length - 1].open_time) : "";
    note.textContent = candles.length
      ? `${int(candles.length)} ${interval} candles of ${symbol}, ${utc(candles[0].open_time)} to ${utc(candles[candles.length - 1].open_time)} UTC` +
        (gaps ? `; ${gaps} gap(s) shown empty` : "") +
        (exhausted ? "" : "; drag or zoom left for earlier candles")
      : `No ${interval} candles of ${symbol}.`;
  }

  function merge(more: Candle[]): void {
    const byTime = new Map<number, Candle>();
    for (const c of candles) byTime.set(c.open_time, c);
    for (const c of more) byTime.set(c.open_time, c);
    candles = [...byTime.values()].sort((a, b) => a.open_time - b.open_time);
  }

  // Candles of [from, to); windows further back until one holds some or the collection's start.
  async function loadBefore(to: number): Promise<Candle[]> {
    let span = PAGE * iv;
    if (to <= first) {
      exhausted = true;
      return [];
    }
    for (;;) {
      const from = Math.max(first, to - span);
      const got = await recordsAll<Candle>(coll.name, { ...query, from, to }, key, key, scope.signal, PAGE * 4);
      if (got.length > 0 || from <= first) {
        if (from <= first) exhausted = true;
        return got;
      }
      span *= 4; // a long gap: look further back
    }
  }

  async function initial(): Promise<void> {
    try {
      merge(await loadBefore(last + 1));
      const d = decimals(candles.slice(-200));
      price.applyOptions({ priceFormat: { type: "price", precision: d, minMove: 1 / 10 ** d } });
      chartEl.dataset.loading = "false";
      draw();
      if (candles.length > 0) {
        const n = candles.length;
        chart.timeScale().setVisibleLogicalRange({ from: Math.max(0, n - 300), to: n + 5 });
      }
      chart.timeScale().subscribeVisibleLogicalRangeChange(onRange);
      scope.add(() => chart.timeScale().unsubscribeVisibleLogicalRangeChange(onRange));
    } catch (e) {
      if (isAbort(e)) return;
      note.className = "error-text";
      note.textContent = `Cannot load candles: ${errorText(e)}`;
    }
  }

  function onRange(range: LogicalRange | null): void {
    if (!range || loadingOlder || exhausted || candles.length === 0) return;
    if (range.from > 50) return;
    loadingOlder = true;
    chartEl.dataset.loading = "true";
    loadBefore(candles[0].open_time)
      .then((older) => {
        if (scope.disposed) return;
        if (older.length === 0) exhausted = true;
        merge(older);
        draw();
      })
      .catch((e) => {
        if (!isAbort(e)) note.textContent = `Cannot load earlier candles: ${errorText(e)}`;
      })
      .finally(() => {
        loadingOlder = false;
        chartEl.dataset.loading = "false";
        // Zoomed out past what arrived: keep loading without waiting for another move.
        if (!scope.disposed) setTimeout(() => onRange(chart.timeScale().getVisibleLogicalRange()), 0);
      });
  }

  // A collection still being written (live klines): the newest candles every 5 s.
  scope.interval(() => {
    if (document.visibilityState !== "visible" || candles.length === 0 || loadingOlder) return;
    const from = candles[candles.length - 1].open_time;
    records<Candle>(coll.name, { ...query, from, to: Math.max(Date.now(), from) + 10 * iv, limit: 1000 }, scope.signal)
      .then((r) => {
        if (scope.disposed || r.records.length === 0) return;
        const lastBefore = candles[candles.length - 1];
        const fresh = r.records.filter((c) => c.open_time > from || c.close !== lastBefore.close || c.volume !== lastBefore.volume);
        if (fresh.length === 0) return;
        merge(r.records);
        draw();
      })
      .catch(() => {});
  }, 5000);

  void initial();
}

// Decimal places the prices need (their decimal text without trailing zeros), 2 to 8.
export function decimals(cs: { open: string; close: string }[]): number {
  let d = 2;
  for (const c of cs)
    for (const v of [c.open, c.close]) {
      const frac = v.split(".")[1]?.replace(/0+$/, "") ?? "";
      d = Math.max(d, frac.length);
    }
  return Math.min(d, 8);
}
