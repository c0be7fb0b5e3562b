// An order-book collection (book_snapshot or book_diff; the other half of the pair is found by
// name, e.g. btcusdt_book_snapshots and btcusdt_book_diffs): the latest snapshot with every diff
// after it applied, refreshed every second; the top 20 levels per side and a cumulative depth
// chart. A gap in the diffs' update ids starts again from the newest snapshot.

import { errorText, isAbort } from "../api";
import { recordsAll, tail } from "../data-api";
import { h, int, utc } from "../dom";
import { lineChart } from "../svgchart";
import type { BookDiff, BookSnapshot, Collection } from "../types";
import type { ViewContext } from "./data";

const TOP = 20;
const DEPTH_LEVELS = 100; // levels per side in the depth chart

type Side = Map<string, string>; // price text -> quantity text

export function bookView(ctx: ViewContext): void {
  const { scope, coll, symbol, all } = ctx;
  const snapColl = coll.kind === "book_snapshot" ? coll : partner(coll, all, "book_snapshot");
  const diffColl = coll.kind === "book_diff" ? coll : partner(coll, all, "book_diff");

  const status = h("p#book-status.muted.small-text", null, "Loading the book…");
  const bidsBody = h("tbody");
  const asksBody = h("tbody");
  const depth = h("div#depth-chart.depth", { "data-bids": 0, "data-asks": 0 });
  const book = h(
    "div#book.book",
    { "data-update-id": "" },
    h("div.book-side", null, h("h2", null, "Bids"), levelTable("book-bids", bidsBody)),
    h("div.book-side", null, h("h2", null, "Asks"), levelTable("book-asks", asksBody)),
  );
  ctx.el.replaceChildren(status, h("div.split.book-split", null, h("div.split-main", null, depth), h("div.split-side", null, book)));

  if (!snapColl) {
    status.className = "error-text";
    status.textContent = `No book_snapshot collection to go with ${coll.name}: the book cannot be rebuilt from diffs alone.`;
    return;
  }

  const bids: Side = new Map();
  const asks: Side = new Map();
  let updateId = -1; // the last update id applied
  let lastTime = 0; // the time of the last diff (or the snapshot)
  let snapshotTime = 0;
  let diffsApplied = 0;
  let busy = false;
  let needSnapshot = true;

  async function loadSnapshot(): Promise<boolean> {
    const got = await tail<BookSnapshot>(
      snapColl!.name,
      { symbol },
      // A collection written lately may have newer snapshots than the listing said.
      (snapColl!.last_time ?? 0) > Date.now() - 600000 ? Date.now() + 3600000 : (snapColl!.last_time ?? 0) + 1,
      snapColl!.first_time ?? 0,
      1,
      120000,
      (s) => s.time,
      (s) => s.update_id,
      scope.signal,
    );
    const s = got[got.length - 1];
    if (!s) return false;
    if (s.update_id === updateId && !needSnapshot) return true;
    bids.clear();
    asks.clear();
    applyLevels(bids, s.bids);
    applyLevels(asks, s.asks);
    updateId = s.update_id;
    lastTime = s.time;
    snapshotTime = s.time;
    diffsApplied = 0;
    needSnapshot = false;
    return true;
  }

  async function applyDiffs(): Promise<void> {
    if (!diffColl) return;
    const diffs = await recordsAll<BookDiff>(
      diffColl.name,
      { symbol, from: lastTime, to: Math.max(Date.now(), lastTime) + 3600000 },
      (d) => d.time,
      (d) => d.last_update_id,
      scope.signal,
      200000,
    );
    for (const d of diffs) {
      if (d.last_update_id <= updateId) continue;
      if (d.first_update_id > updateId + 1) {
        needSnapshot = true; // diffs missing between the book and this one
        return;
      }
      applyLevels(bids, d.bids);
      applyLevels(asks, d.asks);
      updateId = d.last_update_id;
      lastTime = Math.max(lastTime, d.time);
      diffsApplied++;
    }
  }

  async function refresh(): Promise<void> {
    if (busy || scope.disposed) return;
    busy = true;
    try {
      if (needSnapshot || !diffColl) {
        if (!(await loadSnapshot())) {
          status.textContent = `No snapshot of ${symbol} in ${snapColl!.name}.`;
          return;
        }
      }
      await applyDiffs();
      if (needSnapshot) {
        await loadSnapshot();
        await applyDiffs();
      }
      render();
    } catch (e) {
      if (isAbort(e)) return;
      status.className = "error-text";
      status.textContent = `Cannot read the book: ${errorText(e)}`;
    } finally {
      busy = false;
    }
  }

  function render(): void {
    const b = sorted(bids, true);
    const a = sorted(asks, false);
    fillLevels(bidsBody, b.slice(0, TOP), "bid");
    fillLevels(asksBody, a.slice(0, TOP), "ask");
    book.dataset.updateId = String(updateId);
    book.dataset.bids = String(b.length);
    book.dataset.asks = String(a.length);
    const bestBid = b[0]?.[0];
    const bestAsk = a[0]?.[0];
    const spread = bestBid !== undefined && bestAsk !== undefined ? bestAsk - bestBid : NaN;
    status.className = "muted small-text";
    status.textContent =
      `${symbol}: update ${updateId}, ${utc(lastTime)} UTC; snapshot of ${utc(snapshotTime)} UTC` +
      (diffColl ? ` + ${int(diffsApplied)} diffs` : " (no diff collection: snapshots only)") +
      (Number.isFinite(spread) ? `; spread ${spread.toPrecision(4)}` : "");
    // Depth: cumulative quantity from the best price outwards.
    const cum = (levels: [number, number, string, string][]) => {
      let s = 0;
      return levels.slice(0, DEPTH_LEVELS).map(([p, q]) => [p, (s += q)] as [number, number]);
    };
    const bidPts = cum(b).reverse();
    const askPts = cum(a);
    depth.dataset.bids = String(bidPts.length);
    depth.dataset.asks = String(askPts.length);
    depth.replaceChildren(
      lineChart({
        id: "depth-svg",
        title: "Depth (cumulative quantity)",
        height: 300,
        yMin: 0,
        lines: [
          { name: "bids", color: "#16a34a", points: bidPts, step: "before", fill: true },
          { name: "asks", color: "#dc2626", points: askPts, step: "after", fill: true },
        ],
        xLabel: "price",
      }),
    );
  }

  scope.interval(() => {
    if (document.visibilityState === "visible") void refresh();
  }, 1000);
  void refresh();
}

function levelTable(id: string, body: HTMLTableSectionElement): HTMLElement {
  return h(
    "table.grid.static.compact",
    { id },
    h("thead", null, h("tr", null, h("th", null, "price"), h("th", null, "quantity"), h("th", null, "total"))),
    body,
  );
}

function fillLevels(body: HTMLTableSectionElement, levels: [number, number, string, string][], cls: string): void {
  let total = 0;
  body.replaceChildren(
    ...levels.map(([, q, ptext, qtext]) => {
      total += q;
      return h(
        "tr",
        { class: cls, "data-price": ptext },
        h("td.num", null, ptext),
        h("td.num", null, qtext),
        h("td.num.muted", null, total.toPrecision(6)),
      );
    }),
  );
}

// [price, qty, price text, qty text], best first.
function sorted(side: Side, desc: boolean): [number, number, string, string][] {
  const out: [number, number, string, string][] = [];
  for (const [p, q] of side) out.push([Number(p), Number(q), p, q]);
  out.sort((x, y) => (desc ? y[0] - x[0] : x[0] - y[0]));
  return out;
}

// Levels text [["price","qty"],...]: quantity 0 removes the level. Prices are kept as their
// canonical number text so "100.10" and "100.1" are one level.
function applyLevels(side: Side, text: string): void {
  let levels: unknown;
  try {
    levels = JSON.parse(text);
  } catch {
    return;
  }
  if (!Array.isArray(levels)) return;
  for (const l of levels) {
    if (!Array.isArray(l) || l.length < 2) continue;
    const p = canonical(String(l[0]));
    const q = String(l[1]);
    if (Number(q) === 0) side.delete(p);
    else side.set(p, q);
  }
}

function canonical(p: string): string {
  return p.includes(".") ? p.replace(/0+$/, "").replace(/\.$/, "") : p;
}

// The collection of the other kind whose name shares the longest prefix with this one's.
function partner(coll: Collection, all: Collection[], kind: string): Collection | undefined {
  let best: Collection | undefined;
  let bestLen = -1;
  for (const c of all) {
    if (c.kind !== kind) continue;
    let n = 0;
    while (n < c.name.length && n < coll.name.length && c.name[n] === coll.name[n]) n++;
    if (n > bestLen) {
      best = c;
      bestLen = n;
    }
  }
  return best;
}
