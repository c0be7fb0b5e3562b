// #/graphs : the correlation graphs and the trained models; #/graphs/<graph> : one snapshot at a
// time in cytoscape (nodes: symbols; edges: green for a positive correlation, red for a negative
// one, width by |correlation|), with a slider over the snapshots. #graph[data-nodes][data-edges]
// are the counts drawn.

import cytoscape from "cytoscape";
import { errorText, get, isAbort, query } from "../api";
import { bytes, h, int, num, seg, utc } from "../dom";
import { Scope, type Page } from "../page";
import type { GraphEdge, GraphInfo, GraphNode, GraphSnapshot, ModelInfo, SnapshotInfo } from "../types";

export function graphsListPage(): Page {
  const scope = new Scope();
  const graphs = h("div", null, h("p.muted", null, "Loading graphs…"));
  const models = h("div", null, h("p.muted", null, "Loading models…"));
  const el = h(
    "section#page-graphs.page",
    null,
    h("div.page-head", null, h("h1", null, "Graphs and models")),
    h("h2", null, "Correlation graphs"),
    graphs,
    h("h2", null, "Models"),
    models,
  );

  (async () => {
    try {
      const list = (await get<{ graphs: GraphInfo[] }>("/data/graphs", scope.signal)).graphs;
      graphs.replaceChildren(
        list.length === 0
          ? h("p#graphs-empty.muted", null, "No graph yet: run the correlation_gnn flow.")
          : h(
              "table#graphs.grid.static",
              { "data-count": list.length },
              h("thead", null, h("tr", null, ["graph", "snapshots", "first window", "last window", "collections"].map((c) => h("th", null, c)))),
              h(
                "tbody",
                null,
                list.map((g) =>
                  h(
                    "tr",
                    { "data-graph": g.name },
                    h("td", null, h("a", { href: `#/graphs/${seg(g.name)}` }, g.name)),
                    h("td.num", null, int(g.snapshots)),
                    h("td", null, utc(g.first_window)),
                    h("td", null, utc(g.last_window)),
                    h("td.muted", null, `${g.nodes}, ${g.edges}`),
                  ),
                ),
              ),
            ),
      );
    } catch (e) {
      if (!isAbort(e)) graphs.replaceChildren(h("p.error-text", null, `Cannot list graphs: ${errorText(e)}`));
    }
  })();

  (async () => {
    try {
      const list = (await get<{ models: ModelInfo[] }>("/models", scope.signal)).models;
      models.replaceChildren(
        list.length === 0
          ? h("p#models-empty.muted", null, "No model yet.")
          : h(
              "table#models.grid.static",
              { "data-count": list.length },
              h("thead", null, h("tr", null, ["queue", "files"].map((c) => h("th", null, c)))),
              h(
                "tbody",
                null,
                list.map((m) =>
                  h(
                    "tr",
                    { "data-queue-id": m.queue_id },
                    h("td", null, h("a", { href: `#/models/${seg(m.queue_id)}` }, m.queue_id)),
                    h("td.muted", null, m.files.map((f) => `${f.name} (${bytes(f.size)})`).join(", ")),
                  ),
                ),
              ),
            ),
      );
    } catch (e) {
      if (!isAbort(e)) models.replaceChildren(h("p.error-text", null, `Cannot list models: ${errorText(e)}`));
    }
  })();

  return { el, dispose: () => scope.dispose() };
}

export function graphPage(graph: string, params: URLSearchParams): Page {
  const scope = new Scope();
  const status = h("p#graph-status.muted", null, "Loading snapshots…");
  const slider = h("input#snapshot-slider", { type: "range", min: 0, max: 0, value: 0, step: 1, disabled: true, "aria-label": "snapshot" });
  const sliderLabel = h("span#snapshot-label.mono");
  const canvas = h("div#graph.graph", { "data-nodes": 0, "data-edges": 0, "data-loading": "true" });
  const details = h("div#graph-details.panel.small-text", null, h("p.muted", null, "Tap a node or an edge for its figures."));
  const el = h(
    "section#page-graph.page",
    { "data-graph": graph },
    h("p.crumbs", null, h("a", { href: "#/graphs" }, "← graphs")),
    h("div.page-head", null, h("h1", null, "Graph ", h("code", null, graph))),
    status,
    h("div.toolbar", null, h("button#snapshot-prev.small", { type: "button" }, "◀"), slider, h("button#snapshot-next.small", { type: "button" }, "▶"), sliderLabel),
    h("div.split", null, h("div.split-main", null, canvas), h("div.split-side", null, details, legend())),
  );

  let snapshots: SnapshotInfo[] = [];
  let shown = -1;
  let want = -1;
  let loading = false;
  const positions = new Map<string, { x: number; y: number }>();

  const cy = cytoscape({
    container: canvas,
    elements: [],
    minZoom: 0.2,
    maxZoom: 4,
    style: [
      {
        selector: "node",
        style: {
          label: "data(label)",
          "background-color": "data(color)",
          width: "data(size)",
          height: "data(size)",
          "font-size": 11,
          "text-valign": "center",
          "text-halign": "center",
          color: "#111827",
          "border-width": 1,
          "border-color": "#64748b",
        },
      },
      {
        selector: "edge",
        style: {
          width: "data(width)",
          "line-color": "data(color)",
          "target-arrow-color": "data(color)",
          "target-arrow-shape": (e: cytoscape.EdgeSingular) => (e.data("lagged") ? "triangle" : "none"),
          "curve-style": "bezier",
          opacity: 0.8,
        },
      },
      { selector: ":selected", style: { "border-width": 3, "border-color": "#1d4ed8", opacity: 1 } },
    ],
    layout: { name: "preset" },
  });
  scope.add(() => cy.destroy());

  cy.on("tap", "node", (e) => {
    const n = e.target.data("node") as GraphNode;
    details.replaceChildren(
      h("h3", null, n.symbol),
      kv([
        ["log return", num(n.log_return, 5)],
        ["volatility", num(n.volatility, 5)],
        ["volume", num(n.volume, 2)],
        ["volume change", num(n.volume_change, 4)],
        ["candles", String(n.candles)],
        ["next return", n.has_next === false ? "—" : num(n.next_return, 5)],
      ]),
    );
  });
  cy.on("tap", "edge", (e) => {
    const d = e.target.data("edge") as GraphEdge;
    details.replaceChildren(
      h("h3", null, `${d.symbol} — ${d.target}`),
      kv([
        ["correlation", num(d.correlation, 4)],
        ["lag", d.lag ? `${d.symbol} leads by ${d.lag}` : "0"],
        ["samples", String(d.samples)],
      ]),
    );
  });

  function place(symbols: string[]): void {
    const all = [...new Set([...positions.keys(), ...symbols])].sort();
    if (all.length === positions.size) return;
    const r = Math.max(120, all.length * 22);
    all.forEach((s, i) => {
      const a = (2 * Math.PI * i) / all.length - Math.PI / 2;
      positions.set(s, { x: r * Math.cos(a), y: r * Math.sin(a) });
    });
  }

  function draw(s: GraphSnapshot): void {
    place(s.nodes.map((n) => n.symbol));
    const maxVol = Math.max(1e-12, ...s.nodes.map((n) => n.volatility || 0));
    const elements: cytoscape.ElementDefinition[] = [];
    const present = new Set<string>();
    for (const n of s.nodes) {
      present.add(n.symbol);
      elements.push({
        group: "nodes",
        data: {
          id: n.symbol,
          label: n.symbol,
          node: n,
          color: n.log_return > 0 ? "#bbf7d0" : n.log_return < 0 ? "#fecaca" : "#e5e7eb",
          size: 34 + 26 * Math.min(1, (n.volatility || 0) / maxVol),
        },
        position: { ...positions.get(n.symbol)! },
      });
    }
    let edges = 0;
    for (const e of s.edges) {
      if (!present.has(e.symbol) || !present.has(e.target)) continue;
      edges++;
      elements.push({
        group: "edges",
        data: {
          id: `${e.symbol}->${e.target}#${e.lag}`,
          source: e.symbol,
          target: e.target,
          edge: e,
          color: e.correlation >= 0 ? "#16a34a" : "#dc2626",
          width: 1 + 7 * Math.min(1, Math.abs(e.correlation)),
          lagged: e.lag > 0,
        },
      });
    }
    cy.batch(() => {
      cy.elements().remove();
      cy.add(elements);
    });
    cy.fit(undefined, 30);
    canvas.dataset.nodes = String(s.nodes.length);
    canvas.dataset.edges = String(edges);
    canvas.dataset.windowStart = String(s.window_start);
    canvas.dataset.loading = "false";
  }

  function label(i: number): void {
    const sn = snapshots[i];
    sliderLabel.textContent = sn
      ? `${i + 1}/${snapshots.length} · version ${sn.version} · ${utc(sn.window_start, false)} – ${utc(sn.window_end, false)} UTC · ${sn.nodes} nodes, ${sn.edges} edges`
      : "";
  }

  async function show(i: number): Promise<void> {
    want = i;
    label(i);
    if (loading) return; // the newest wish is loaded once the current one is done
    loading = true;
    canvas.dataset.loading = "true";
    try {
      while (want !== shown) {
        const target = want;
        const sn = snapshots[target];
        const s = await get<GraphSnapshot>(
          `/data/graphs/${encodeURIComponent(graph)}/snapshot${query({ window_start: sn.window_start })}`,
          scope.signal,
        );
        if (scope.disposed) return;
        if (target === want) draw(s);
        shown = target;
        slider.dataset.index = String(target);
        history.replaceState(null, "", `#/graphs/${seg(graph)}?window_start=${sn.window_start}`);
      }
    } catch (e) {
      if (!isAbort(e)) {
        status.hidden = false;
        status.className = "error-text";
        status.textContent = `Cannot read the snapshot: ${errorText(e)}`;
      }
    } finally {
      loading = false;
    }
  }

  slider.addEventListener("input", () => void show(Number(slider.value)));
  const step = (d: number) => {
    const i = Math.min(snapshots.length - 1, Math.max(0, Number(slider.value) + d));
    slider.value = String(i);
    void show(i);
  };
  el.querySelector("#snapshot-prev")!.addEventListener("click", () => step(-1));
  el.querySelector("#snapshot-next")!.addEventListener("click", () => step(1));

  (async () => {
    try {
      snapshots = (await get<{ snapshots: SnapshotInfo[] }>(`/data/graphs/${encodeURIComponent(graph)}/snapshots`, scope.signal)).snapshots;
      snapshots.sort((a, b) => a.window_start - b.window_start);
      if (snapshots.length === 0) {
        status.textContent = "The graph has no snapshot.";
        return;
      }
      status.hidden = true;
      slider.max = String(snapshots.length - 1);
      slider.disabled = false;
      slider.dataset.count = String(snapshots.length);
      const ws = Number(params.get("window_start"));
      let i = snapshots.findIndex((s) => s.window_start === ws);
      if (i < 0) i = snapshots.length - 1;
      slider.value = String(i);
      await show(i);
    } catch (e) {
      if (isAbort(e)) return;
      status.className = "error-text";
      status.textContent = `Cannot list the snapshots: ${errorText(e)}`;
    }
  })();

  return { el, dispose: () => scope.dispose() };
}

function kv(rows: [string, string][]): HTMLElement {
  return h("table.kv", null, h("tbody", null, rows.map(([k, v]) => h("tr", null, h("th", null, k), h("td", null, v)))));
}

function legend(): HTMLElement {
  return h(
    "div.legend.small-text",
    null,
    h("div", null, h("span.swatch", { style: "background:#16a34a" }), "positive correlation"),
    h("div", null, h("span.swatch", { style: "background:#dc2626" }), "negative correlation"),
    h("div.muted", null, "edge width: |correlation|; arrow: the leader of a lagged correlation"),
    h("div.muted", null, "node colour: the window's return (green up, red down); size: volatility"),
  );
}
