// #/data : the collections; #/data/<collection>[?symbol=S&interval=I] : a view by kind —
// candles (candlestick chart), trades (tape and price line), order book (levels and depth).

import { errorText, isAbort } from "../api";
import { collections, firstRecord } from "../data-api";
import { h, int, seg, utc } from "../dom";
import { Scope, type Page } from "../page";
import type { Collection } from "../types";
import { bookView } from "./book";
import { candleView } from "./candles";
import { tradeView } from "./trades";

export function dataListPage(): Page {
  const scope = new Scope();
  const status = h("p.muted", null, "Loading collections…");
  const body = h("div");
  const el = h("section#page-data.page", null, h("div.page-head", null, h("h1", null, "Data")), status, body);

  (async () => {
    try {
      const list = await collections(scope.signal);
      status.hidden = true;
      body.replaceChildren(collectionsTable(list));
    } catch (e) {
      if (isAbort(e)) return;
      status.className = "error-text";
      status.textContent = `Cannot list collections: ${errorText(e)}`;
    }
  })();
  return { el, dispose: () => scope.dispose() };
}

export function collectionsTable(list: Collection[]): HTMLElement {
  if (list.length === 0) return h("p#collections-empty.muted", null, "No collection yet: run a workflow that stores data.");
  return h(
    "table#collections.grid.static",
    { "data-count": list.length },
    h(
      "thead",
      null,
      h("tr", null, ["name", "kind", "records", "first (UTC)", "last (UTC)"].map((c) => h("th", null, c))),
    ),
    h(
      "tbody",
      null,
      list.map((c) =>
        h(
          "tr",
          { "data-collection": c.name, "data-kind": c.kind },
          h("td", null, viewable(c) ? h("a", { href: `#/data/${seg(c.name)}` }, c.name) : graphLink(c)),
          h("td", null, h("span.kind", null, c.kind)),
          h("td.num", null, int(c.records)),
          h("td", null, utc(c.first_time)),
          h("td", null, utc(c.last_time)),
        ),
      ),
    ),
  );
}

function viewable(c: Collection): boolean {
  return ["candle", "trade", "agg_trade", "book_snapshot", "book_diff"].includes(c.kind);
}

// Graph collections (<graph>_nodes, <graph>_edges) link to their graph.
function graphLink(c: Collection): Node {
  const m = /^(.+)_(nodes|edges)$/.exec(c.name);
  if ((c.kind === "graph_node" || c.kind === "graph_edge") && m) return h("a", { href: `#/graphs/${seg(m[1])}` }, c.name);
  return document.createTextNode(c.name);
}

export interface ViewContext {
  scope: Scope;
  el: HTMLElement; // where the view draws
  coll: Collection;
  all: Collection[];
  symbol: string;
  interval: string;
}

export function dataPage(name: string, params: URLSearchParams): Page {
  const scope = new Scope();
  const status = h("p.muted", null, "Loading…");
  const info = h("div#collection-info.cards");
  const pickers = h("div#pickers.toolbar");
  const view = h("div#data-view");
  const el = h(
    "section#page-collection.page",
    { "data-collection": name },
    h("p.crumbs", null, h("a", { href: "#/data" }, "← data")),
    h("div.page-head", null, h("h1", null, name)),
    status,
    info,
    pickers,
    view,
  );

  (async () => {
    let all: Collection[];
    try {
      all = await collections(scope.signal);
    } catch (e) {
      if (isAbort(e)) return;
      status.className = "error-text";
      status.textContent = `Cannot list collections: ${errorText(e)}`;
      return;
    }
    const coll = all.find((c) => c.name === name);
    if (!coll) {
      status.className = "error-text";
      status.textContent = `No collection ${name}.`;
      return;
    }
    el.dataset.kind = coll.kind;
    info.replaceChildren(
      ...(
        [
          ["kind", coll.kind],
          ["records", int(coll.records)],
          ["first (UTC)", utc(coll.first_time)],
          ["last (UTC)", utc(coll.last_time)],
        ] as const
      ).map(([k, v]) => h("div.card", null, h("div.card-key", null, k), h("div.card-value", null, v))),
    );
    if (!coll.records || coll.first_time === null || coll.last_time === null) {
      status.textContent = "The collection is empty.";
      return;
    }
    // The symbol and interval to show: the route's, else the listing's, else the first record's.
    let symbol = params.get("symbol") ?? coll.symbols?.[0] ?? "";
    let interval = params.get("interval") ?? coll.intervals?.[0] ?? "";
    if (!symbol || (coll.kind === "candle" && !interval)) {
      try {
        const first = await firstRecord<{ symbol?: string; interval?: string }>(name, scope.signal);
        symbol ||= first?.symbol ?? "";
        interval ||= first?.interval ?? "";
      } catch (e) {
        if (isAbort(e)) return;
      }
    }
    status.hidden = true;
    renderPickers(pickers, coll, symbol, interval);
    const ctx: ViewContext = { scope, el: view, coll, all, symbol, interval };
    switch (coll.kind) {
      case "candle":
        candleView(ctx);
        break;
      case "trade":
      case "agg_trade":
        tradeView(ctx);
        break;
      case "book_snapshot":
      case "book_diff":
        bookView(ctx);
        break;
      default:
        view.replaceChildren(h("p.muted", null, `No view for ${coll.kind} collections.`));
    }
  })();

  return { el, dispose: () => scope.dispose() };
}

// Symbol (and for candles interval) pickers: selects when the listing names the choices, else a
// text field (with the current value) that reloads the view on change.
function renderPickers(box: HTMLElement, coll: Collection, symbol: string, interval: string): void {
  const go = (sym: string, iv: string) => {
    const q = new URLSearchParams();
    if (sym) q.set("symbol", sym);
    if (iv && coll.kind === "candle") q.set("interval", iv);
    location.hash = `#/data/${seg(coll.name)}?${q.toString()}`;
  };
  const symbolEl = choice("picker-symbol", "symbol", coll.symbols, symbol);
  box.appendChild(symbolEl);
  let intervalEl: HTMLInputElement | HTMLSelectElement | null = null;
  if (coll.kind === "candle") {
    intervalEl = choice("picker-interval", "interval", coll.intervals, interval);
    box.appendChild(intervalEl);
  }
  const onChange = () => go(symbolEl.value.trim().toUpperCase(), intervalEl?.value.trim() ?? "");
  symbolEl.addEventListener("change", onChange);
  intervalEl?.addEventListener("change", onChange);
}

function choice(id: string, label: string, options: string[] | undefined, value: string): HTMLInputElement | HTMLSelectElement {
  if (options && options.length > 0) {
    const sel = h("select", { id, "aria-label": label, title: label }, options.map((o) => h("option", { value: o }, o)));
    if (value && !options.includes(value)) sel.appendChild(h("option", { value }, value));
    sel.value = value;
    return sel;
  }
  return h("input", { id, value, placeholder: label, "aria-label": label, title: `${label} (Enter to show)`, size: 12 });
}
