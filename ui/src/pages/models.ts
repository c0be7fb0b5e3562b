// #/models/<queue_id> : a trained model's metrics.json (the gnn-trainer's): training curves of
// loss, accuracy and F1 for train and validation, against the two baselines (majority class,
// sign of the last return).

import { ApiError, errorText, get, isAbort } from "../api";
import { h, int, num, seg } from "../dom";
import { Scope, type Page } from "../page";
import { lineChart, type Line } from "../svgchart";
import type { BaselineMetrics, EpochMetrics, ModelMetrics } from "../types";

const TRAIN = "#2563eb";
const VAL = "#ea580c";
const MAJORITY = "#6b7280";
const LAST_SIGN = "#9333ea";

export function modelPage(queueId: string): Page {
  const scope = new Scope();
  const status = h("p.muted", null, "Loading metrics…");
  const body = h("div#model", { "data-queue-id": queueId });
  const el = h(
    "section#page-model.page",
    null,
    h("p.crumbs", null, h("a", { href: "#/graphs" }, "← graphs and models"), " · ", h("a", { href: `#/queue/${seg(queueId)}` }, "workflow")),
    h("div.page-head", null, h("h1", null, "Model ", h("code", null, queueId))),
    status,
    body,
  );

  (async () => {
    try {
      const m = await get<ModelMetrics>(`/models/${encodeURIComponent(queueId)}/metrics`, scope.signal);
      status.hidden = true;
      render(body, m);
    } catch (e) {
      if (isAbort(e)) return;
      status.className = "error-text";
      status.textContent =
        e instanceof ApiError && e.status === 404 ? `No model of queue ${queueId}.` : `Cannot read the metrics: ${errorText(e)}`;
    }
  })();

  return { el, dispose: () => scope.dispose() };
}

function render(body: HTMLElement, m: ModelMetrics): void {
  const epochs = [...(m.epochs ?? [])].sort((a, b) => a.epoch - b.epoch);
  body.dataset.epochs = String(epochs.length);
  const best = m.best ?? {};
  const b = m.baselines ?? {};
  const cards: [string, string | Node][] = [
    ["model", m.model ?? "—"],
    ["epochs run", String(epochs.length)],
    ["best epoch", m.best_epoch !== undefined ? String(m.best_epoch) : "—"],
    ["best val loss", num(best.val_loss, 4)],
    ["best val accuracy", num(best.val_accuracy, 3)],
    ["best val F1", num(best.val_f1, 3)],
    ["majority val acc / F1", `${num(b.majority?.val_accuracy, 3)} / ${num(b.majority?.val_f1, 3)}`],
    ["last-sign val acc / F1", `${num(b.last_sign?.val_accuracy, 3)} / ${num(b.last_sign?.val_f1, 3)}`],
    ["parameters", int(m.parameters)],
    ["stopped", m.stopped_by_callback ? "by request" : m.stopped_early ? "early (patience)" : "after max epochs"],
  ];
  if (m.graph?.name) cards.push(["graph", h("a", { href: `#/graphs/${seg(m.graph.name)}` }, m.graph.name)]);
  if (m.split) cards.push(["split (snapshots)", `${m.split.train_samples ?? "?"} train / ${m.split.val_samples ?? "?"} val`]);

  const x = (e: EpochMetrics) => e.epoch;
  const series = (name: string, color: string, f: (e: EpochMetrics) => number | null, dash?: string): Line => ({
    name,
    color,
    dash,
    points: epochs.map((e) => [x(e), f(e) ?? NaN]),
  });
  const flat = (name: string, color: string, v: number | null | undefined, dash: string): Line | null =>
    v === null || v === undefined || epochs.length === 0
      ? null
      : { name, color, dash, points: [[x(epochs[0]), v], [x(epochs[epochs.length - 1]), v]] };
  const baselineLines = (key: "accuracy" | "f1"): Line[] => {
    const pick = (bm: BaselineMetrics | undefined, split: "train" | "val") => bm?.[`${split}_${key}` as keyof BaselineMetrics];
    return [
      flat("majority (val)", MAJORITY, pick(b.majority, "val"), "6 4"),
      flat("last sign (val)", LAST_SIGN, pick(b.last_sign, "val"), "6 4"),
      flat("majority (train)", MAJORITY, pick(b.majority, "train"), "2 3"),
      flat("last sign (train)", LAST_SIGN, pick(b.last_sign, "train"), "2 3"),
    ].filter((l): l is Line => l !== null);
  };

  const mark = m.best_epoch ? { x: m.best_epoch, label: `best epoch ${m.best_epoch}` } : undefined;
  const charts = h(
    "div.charts",
    null,
    chartBox(
      "chart-loss",
      lineChart({
        title: "Loss",
        xLabel: "epoch",
        markX: mark,
        lines: [series("train", TRAIN, (e) => e.train_loss), series("val", VAL, (e) => e.val_loss)],
      }),
    ),
    chartBox(
      "chart-accuracy",
      lineChart({
        title: "Accuracy",
        xLabel: "epoch",
        markX: mark,
        lines: [series("train", TRAIN, (e) => e.train_accuracy), series("val", VAL, (e) => e.val_accuracy), ...baselineLines("accuracy")],
      }),
    ),
    chartBox(
      "chart-f1",
      lineChart({
        title: "F1 (positive class)",
        xLabel: "epoch",
        markX: mark,
        lines: [series("train", TRAIN, (e) => e.train_f1), series("val", VAL, (e) => e.val_f1), ...baselineLines("f1")],
      }),
    ),
  );

  const config = m.config
    ? h(
        "details.panel",
        null,
        h("summary", null, "Configuration"),
        h(
          "table.kv",
          null,
          h("tbody", null, Object.entries(m.config).map(([k, v]) => h("tr", null, h("th", null, k), h("td", null, String(v))))),
        ),
      )
    : null;

  body.replaceChildren(
    h("div.cards", null, cards.map(([k, v]) => h("div.card", { "data-key": k }, h("div.card-key", null, k), h("div.card-value", null, v)))),
    charts,
    config ?? "",
  );
}

function chartBox(id: string, svg: SVGSVGElement): HTMLElement {
  const lines = svg.querySelectorAll("g[data-series]").length;
  return h("div.chart-box", { id, "data-lines": lines }, svg);
}
