// #/queue/<id> : one queue: its targets, the events as a timeline, errors, completeness
// (missing ranges, DLQ), live loaders' lag and reconnects; stop and repair; links to the data
// its connectors wrote. GET /queues/{id}, then the ?queue_id= feed (its snapshot replaces the
// page's state, later messages update it).

import { ApiError, errorText, get, isAbort, post } from "../api";
import { compact, duration, h, int, seg, statusBadge, toast, utc, utcTime } from "../dom";
import { Scope, type Page } from "../page";
import { FINAL_STATUSES, type FeedMessage, type Queue, type QueueEvent, type RepairAnswer, type TargetState } from "../types";
import { Feed } from "../ws";
import { repairText } from "./workflows";

const MAX_EVENTS = 500;

export function workflowPage(queueId: string): Page {
  const scope = new Scope();
  let q: Queue | null = null;
  let events: QueueEvent[] = [];
  let frame = 0;
  let refreshTimer: number | undefined;
  const live = new Map<string, LiveStats>(); // telemetry id -> the newest lag/reconnects figures
  let rate = { t: 0, n: 0, perSecond: 0 };

  const head = h("div.page-head", null, h("h1", null, "Workflow ", h("code", null, queueId)));
  const summary = h("div#queue-summary.cards");
  const actions = h(
    "div.toolbar",
    null,
    h("button#queue-stop", { type: "button", "data-action": "stop" }, "Stop"),
    h("button#queue-repair", { type: "button", "data-action": "repair" }, "Repair"),
    h("span#queue-links.links"),
  );
  const errors = h("div#queue-errors");
  const completeness = h("div#queue-completeness");
  const targets = h("div#queue-targets");
  const timeline = h("ol#queue-events.timeline");
  const status = h("p.muted", null, "Loading…");
  const el = h(
    "section#page-queue.page",
    { "data-queue-id": queueId },
    h("p.crumbs", null, h("a", { href: "#/" }, "← workflows")),
    head,
    status,
    summary,
    actions,
    errors,
    completeness,
    h("h2", null, "Targets"),
    targets,
    h("h2", null, "Events ", h("span.muted.small-text", null, "(newest first)")),
    timeline,
  );

  scope.add(() => {
    cancelAnimationFrame(frame);
    clearTimeout(refreshTimer);
  });
  scope.interval(() => schedule(), 1000);

  actions.addEventListener("click", (e) => {
    const btn = (e.target as HTMLElement).closest<HTMLButtonElement>("button[data-action]");
    if (btn) void act(btn);
  });

  async function act(btn: HTMLButtonElement): Promise<void> {
    btn.disabled = true;
    try {
      if (btn.dataset.action === "stop") {
        await post("/queues/stop", { queue_id: queueId });
        toast("stop sent");
      } else {
        const res = await post<RepairAnswer>(`/queues/${encodeURIComponent(queueId)}/repair`, {});
        toast(repairText(res.status, res.body));
        refreshSoon(200);
      }
    } catch (err) {
      toast(errorText(err), "error");
    } finally {
      btn.disabled = false;
      schedule();
    }
  }

  function setQueue(next: Queue): void {
    q = next;
    // The server's newest events, then what the feed added after them.
    const seen = new Set(next.events.map(key));
    const later = events.filter((e) => !seen.has(key(e)) && e.timestamp >= (next.events[next.events.length - 1]?.timestamp ?? 0));
    events = [...next.events, ...later].slice(-MAX_EVENTS);
    for (const e of events) noteLive(e);
    noteRate(next.records_written);
    schedule();
  }

  function refreshSoon(ms = 1000): void {
    if (refreshTimer !== undefined) return;
    refreshTimer = window.setTimeout(async () => {
      refreshTimer = undefined;
      try {
        setQueue(await get<Queue>(`/queues/${encodeURIComponent(queueId)}`, scope.signal));
      } catch {
        // the feed goes on; the next change tries again
      }
    }, ms);
  }

  function apply(m: FeedMessage): void {
    if (!q) return;
    if (m.type === "snapshot") {
      setQueue(m.queue);
      return;
    }
    if ("queue_id" in m && m.queue_id !== queueId) return;
    switch (m.type) {
      case "queue_status": {
        const was = q.status;
        q.status = m.status;
        q.message = m.message;
        q.records_written = m.records_written;
        noteRate(m.records_written);
        // A final status brings the completeness report; a repair brings new targets.
        if (FINAL_STATUSES.has(m.status) || (FINAL_STATUSES.has(was) && m.status === "pending")) refreshSoon(300);
        break;
      }
      case "target_status": {
        const t = q.targets.find((x) => x.telemetry_id === m.telemetry_id);
        if (t) {
          t.status = m.status;
          t.message = m.message;
          t.records_written = m.records_written;
          t.updated_at = Date.now() / 1000;
        } else {
          q.targets.push({ ...m, updated_at: Date.now() / 1000 });
          refreshSoon();
        }
        if (FINAL_STATUSES.has(m.status)) refreshSoon();
        break;
      }
      case "event": {
        events.push(m.event);
        if (events.length > MAX_EVENTS) events.splice(0, events.length - MAX_EVENTS);
        noteLive(m.event);
        const t = q.targets.find((x) => x.telemetry_id === m.event.producer);
        if (t) {
          if (m.event.records_expected !== undefined) t.records_expected = m.event.records_expected;
          if (m.event.records_dlq !== undefined) t.records_dlq = m.event.records_dlq;
          if (m.event.missing_ranges !== undefined) t.missing_ranges = m.event.missing_ranges;
        }
        break;
      }
      default:
        return;
    }
    schedule();
  }

  function noteRate(n: number): void {
    const now = performance.now();
    if (rate.t && n >= rate.n && now - rate.t >= 500) {
      const inst = ((n - rate.n) * 1000) / (now - rate.t);
      rate.perSecond = rate.perSecond ? rate.perSecond * 0.6 + inst * 0.4 : inst;
    }
    if (!rate.t || now - rate.t >= 500 || n < rate.n) rate = { t: now, n, perSecond: n < rate.n ? 0 : rate.perSecond };
  }

  function noteLive(e: QueueEvent): void {
    const s = parseLive(e.message ?? "");
    if (s) live.set(e.producer, { ...s, at: e.timestamp });
  }

  function schedule(): void {
    if (!frame && !scope.disposed) frame = requestAnimationFrame(render);
  }

  function render(): void {
    frame = 0;
    if (!q) return;
    status.hidden = true;
    el.dataset.status = q.status;
    const running = !FINAL_STATUSES.has(q.status);
    (actions.querySelector("#queue-stop") as HTMLButtonElement).disabled = !running || q.stop_requested === true;
    (actions.querySelector("#queue-repair") as HTMLButtonElement).disabled = running;
    renderSummary(q, running);
    renderLinks(q);
    renderErrors(q);
    renderCompleteness(q);
    renderTargets(q);
    renderEvents();
  }

  function renderSummary(q: Queue, running: boolean): void {
    const expected = q.completeness?.records_expected ?? q.estimate?.records_expected;
    const idle = (performance.now() - rate.t) / 1000;
    const perSecond = running && idle < 10 ? rate.perSecond : 0;
    const cards: [string, Node | string][] = [
      ["status", statusBadge(q.status, q.message)],
      ["symbol", q.symbol],
      ["type", q.type],
      ["time range", q.time_range],
      ["records written", int(q.records_written)],
      ["expected", expected === undefined ? "—" : int(expected)],
      ["rate", perSecond > 0 ? `${compact(perSecond)}/s` : "—"],
      [
        "time left",
        perSecond > 0 && expected !== undefined && expected > q.records_written
          ? duration((expected - q.records_written) / perSecond)
          : "—",
      ],
      ["created", utc(q.created_at * 1000)],
      ["updated", utc(q.updated_at * 1000)],
    ];
    if (q.estimate?.seconds_at_budget !== undefined) cards.push(["at the weight budget", duration(q.estimate.seconds_at_budget)]);
    summary.replaceChildren(
      ...cards.map(([k, v]) => h("div.card", { "data-key": k }, h("div.card-key", null, k), h("div.card-value", null, v))),
    );
    if (q.message) summary.appendChild(h("div.card.wide", { "data-key": "message" }, h("div.card-key", null, "message"), h("div.card-value", null, q.message)));
  }

  function renderLinks(q: Queue): void {
    const links = new Map<string, HTMLElement>();
    for (const t of q.targets) {
      const c = t.config ?? {};
      const coll = typeof c.collection_name === "string" ? c.collection_name : "";
      if (!coll) continue;
      if (t.target === "graph-builder") {
        links.set(`g:${coll}`, h("a.button", { href: `#/graphs/${seg(coll)}`, "data-link": "graph" }, `graph ${coll}`));
      } else if (t.target === "gnn-trainer") {
        links.set("m", h("a.button", { href: `#/models/${seg(q.queue_id)}`, "data-link": "model" }, "model metrics"));
      } else {
        const sym = typeof c.symbol === "string" ? c.symbol : q.symbol;
        // Candle workflows name their interval in their type: api_candles_5m, ws_klines_1h.
        const iv = typeof c.interval === "string" ? c.interval : (/_(?:candles|klines)_(\w+)$/.exec(q.type)?.[1] ?? "");
        const params = new URLSearchParams({ symbol: sym });
        if (iv) params.set("interval", iv);
        links.set(
          `d:${coll}`,
          h("a.button", { href: `#/data/${seg(coll)}?${params.toString()}`, "data-link": "data", "data-collection": coll }, `chart ${coll}`),
        );
      }
    }
    const box = actions.querySelector("#queue-links")!;
    box.replaceChildren(...links.values());
  }

  function renderErrors(q: Queue): void {
    const bad = q.targets.filter((t) => t.status === "error");
    const evs = events.filter((e) => e.status === "error");
    if (q.status !== "error" && bad.length === 0 && evs.length === 0) {
      errors.replaceChildren();
      return;
    }
    const items: HTMLElement[] = [];
    if (q.status === "error" && q.message) items.push(h("li", null, h("b", null, "queue: "), q.message));
    for (const t of bad) items.push(h("li", { "data-telemetry-id": t.telemetry_id }, h("b", null, `${t.telemetry_id}: `), t.message || "error"));
    for (const e of evs)
      if (!bad.some((t) => t.telemetry_id === e.producer && t.message === e.message))
        items.push(h("li", null, h("b", null, `${e.producer} (${utc(e.timestamp * 1000)}): `), e.message ?? ""));
    errors.replaceChildren(h("div.panel.panel-error", null, h("h2", null, "Errors"), h("ul", null, items)));
  }

  function renderCompleteness(q: Queue): void {
    const c = q.completeness;
    const dlq = q.targets.reduce((s, t) => s + (t.records_dlq ?? 0), 0);
    if (!c && !dlq) {
      completeness.replaceChildren();
      return;
    }
    const rows: [string, string][] = [];
    if (c) {
      rows.push(["records expected", c.records_expected === undefined ? "unknown" : int(c.records_expected)]);
      rows.push(["records published", int(c.records_published)]);
      rows.push(["records written", int(c.records_written)]);
      if (c.records_stored !== undefined) rows.push(["records stored", int(c.records_stored)]);
      rows.push(["records in the DLQ", int(c.records_dlq)]);
      rows.push(["complete", c.complete ? "yes" : "no"]);
    } else {
      rows.push(["records in the DLQ", int(dlq)]);
    }
    const missing = c?.missing_ranges ?? [];
    completeness.replaceChildren(
      h(
        "div.panel",
        { "data-complete": c ? String(c.complete) : "unknown" },
        h("h2", null, "Completeness"),
        h("table.kv", null, h("tbody", null, rows.map(([k, v]) => h("tr", null, h("th", null, k), h("td", { "data-key": k }, v))))),
        missing.length
          ? h(
              "div",
              null,
              h("h3", null, `Missing ranges (${missing.length})`),
              h("ul#missing-ranges.ranges", null, missing.slice(0, 200).map((r) => h("li", null, h("code", null, r)))),
              missing.length > 200 ? h("p.muted", null, `… and ${missing.length - 200} more`) : null,
            )
          : null,
      ),
    );
  }

  function renderTargets(q: Queue): void {
    const now = Date.now() / 1000;
    targets.replaceChildren(
      h(
        "table#targets.grid.static",
        null,
        h(
          "thead",
          null,
          h("tr", null, ["status", "telemetry id", "target", "records", "expected", "DLQ", "live", "message"].map((c) => h("th", null, c))),
        ),
        h(
          "tbody",
          null,
          q.targets.map((t: TargetState) => {
            const l = live.get(t.telemetry_id);
            const liveText = l
              ? [
                  l.lagP50 !== undefined ? `lag p50 ${l.lagP50} ms / max ${l.lagMax} ms` : "",
                  l.reconnects !== undefined ? `${l.reconnects} reconnects` : "",
                  l.rate !== undefined ? `${compact(l.rate)} msg/s` : "",
                ]
                  .filter(Boolean)
                  .join(" · ")
              : "";
            return h(
              "tr",
              { "data-telemetry-id": t.telemetry_id, "data-status": t.status },
              h("td", null, statusBadge(t.status)),
              h("td", null, h("code", null, t.telemetry_id)),
              h("td", null, t.target),
              h("td.num", null, int(t.records_written)),
              h("td.num", null, t.records_expected === undefined ? "" : int(t.records_expected)),
              h("td.num", null, t.records_dlq ? int(t.records_dlq) : ""),
              h("td.live", { "data-lag-p50": l?.lagP50, "data-reconnects": l?.reconnects }, liveText),
              h(
                "td.message",
                { title: t.updated_at ? `updated ${Math.max(0, Math.round(now - t.updated_at))} s ago` : undefined },
                t.message,
                t.missing_ranges?.length ? h("div.muted", null, `${t.missing_ranges.length} missing range(s)`) : null,
              ),
            );
          }),
        ),
      ),
    );
  }

  let renderedEvents = -1;
  let renderedFirst = "";
  function renderEvents(): void {
    const first = events.length ? key(events[0]) : "";
    if (renderedEvents === events.length && renderedFirst === first) return;
    renderedEvents = events.length;
    renderedFirst = first;
    timeline.replaceChildren(
      ...events
        .slice()
        .reverse()
        .slice(0, 200)
        .map((e) =>
          h(
            "li",
            { class: `ev ev-${e.status}`, "data-status": e.status, "data-producer": e.producer },
            h("span.ev-time", { title: utc(e.timestamp * 1000) }, utcTime(e.timestamp * 1000)),
            statusBadge(e.status),
            h("span.ev-producer", null, e.producer),
            h("span.ev-message", null, e.message ?? ""),
            e.records_written !== undefined ? h("span.ev-records.muted", null, int(e.records_written)) : null,
          ),
        ),
    );
  }

  async function load(): Promise<void> {
    try {
      setQueue(await get<Queue>(`/queues/${encodeURIComponent(queueId)}`, scope.signal));
    } catch (e) {
      if (isAbort(e)) return;
      status.hidden = false;
      status.className = "error-text";
      status.textContent =
        e instanceof ApiError && e.status === 404 ? `No queue ${queueId}.` : `Cannot read the queue: ${errorText(e)}`;
      return;
    }
    const feed = new Feed(
      {
        onMessage: apply,
        onSync: (first) => {
          if (!first) refreshSoon(0);
        },
      },
      queueId,
    );
    scope.add(() => feed.close());
  }
  void load();

  return { el, dispose: () => scope.dispose() };
}

function key(e: QueueEvent): string {
  return `${e.producer}|${e.timestamp}|${e.status}|${e.records_written ?? ""}|${e.message ?? ""}`;
}

interface LiveStats {
  lagP50?: number;
  lagMax?: number;
  reconnects?: number;
  rate?: number;
  at: number;
}

// A live loader's progress message (src/workers/live.cc report()): "published N records; R
// messages/s, lag p50 X ms, max Y ms; M messages, K reconnects, ...".
export function parseLive(message: string): Omit<LiveStats, "at"> | null {
  const lag = /lag p50 (-?\d+) ms, max (-?\d+) ms/.exec(message);
  const rec = /(\d+) reconnects/.exec(message);
  const rate = /(\d+) messages\/s/.exec(message);
  if (!lag && !rec) return null;
  return {
    lagP50: lag ? Number(lag[1]) : undefined,
    lagMax: lag ? Number(lag[2]) : undefined,
    reconnects: rec ? Number(rec[1]) : undefined,
    rate: rate ? Number(rate[1]) : undefined,
  };
}
