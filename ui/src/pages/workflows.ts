// #/ : every queue, kept live over /ws/events.
//
// Built for 10,000 queues and hundreds of messages a second: messages only update the model
// (a Map of rows, each with a version number) and mark it dirty; one requestAnimationFrame
// render then draws the rows in view (a windowed table: a fixed row height, spacer rows above
// and below, a pool of <tr> reused), refilling only those whose queue changed.

import { ApiError, errorText, get, isAbort, post } from "../api";
import { compact, duration, h, int, seg, toast } from "../dom";
import { Scope, type Page } from "../page";
import { recordRender, stats } from "../stats";
import { FINAL_STATUSES, STATUSES, type FeedMessage, type Queue, type QueueSummary, type RepairAnswer } from "../types";
import { Feed } from "../ws";
import { startPanel } from "./start";

const ROW_H = 36; // px: must match `#queues tbody tr` in style.css
const OVERSCAN = 8;
const RANK: Record<string, number> = { pending: 0, started: 1, loading: 2, finished: 3, error: 3, interrupted: 3 };

interface Row {
  q: QueueSummary;
  version: number;
  expectedBy: Map<string, number>; // producer -> records_expected it reported
  expected?: number;
  finalTargets: Set<string>; // telemetry ids seen reaching a final status over the feed
  rate: number; // records/s, smoothed
  sampleT: number; // ms of the last records_written sample
  sampleN: number;
}

function expectedOf(q: QueueSummary | Queue): number | undefined {
  const c = (q as Queue).completeness?.records_expected;
  return c ?? q.estimate?.records_expected ?? (q as QueueSummary).records_expected;
}

export function workflowsPage(): Page {
  const scope = new Scope();
  const rows = new Map<string, Row>();
  let order: string[] = []; // every queue id, newest first
  let view: string[] = []; // the filtered ids, in order
  let viewDirty = true;
  let countsDirty = true;
  let forceAll = false; // refill every visible row (the clock moved: rates, time left)
  let frame = 0;
  let firstRenderDone = false;
  let loaded = false;
  let buffered: FeedMessage[] | null = []; // messages that arrive before the list
  let replaying = false; // applying `buffered` once the list is in
  const filter = { status: "", symbol: "", text: "" };

  // ---- the page's elements -----------------------------------------------------------------

  const statusSelect = h(
    "select#filter-status",
    { "aria-label": "status filter" },
    h("option", { value: "" }, "every status"),
    STATUSES.map((s) => h("option", { value: s }, s)),
  );
  const symbolInput = h("input#filter-symbol", {
    type: "search",
    placeholder: "symbol",
    "aria-label": "symbol filter",
    autocomplete: "off",
  });
  const textInput = h("input#filter-text", {
    type: "search",
    placeholder: "queue id contains…",
    "aria-label": "queue id filter",
    autocomplete: "off",
  });
  const counts = h("div#status-counts.chips");
  const shownInfo = h("span#queues-shown.muted");
  const topSpacer = h("tr.spacer", { "aria-hidden": "true" }, h("td", { colspan: 9 }));
  const bottomSpacer = h("tr.spacer", { "aria-hidden": "true" }, h("td", { colspan: 9 }));
  const tbody = h("tbody", null, topSpacer, bottomSpacer);
  const table = h(
    "table#queues.grid",
    { "data-total": 0, "data-shown": 0, "data-ready": "false" },
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        h("th.c-status", null, "status"),
        h("th.c-id", null, "queue id"),
        h("th.c-symbol", null, "symbol"),
        h("th.c-type", null, "type"),
        h("th.c-range", null, "time range"),
        h("th.c-num", null, "records"),
        h("th.c-targets", null, "targets"),
        h("th.c-progress", null, "progress"),
        h("th.c-actions", null, ""),
      ),
    ),
    tbody,
  );
  const scroller = h("div#queues-scroll.scroller", null, table);
  const empty = h("p#queues-empty.muted", { hidden: true }, "No workflow yet: start one with the panel above.");
  const loading = h("p#queues-loading.muted", null, "Loading workflows…");

  const el = h(
    "section#page-workflows.page",
    null,
    h("div.page-head", null, h("h1", null, "Workflows"), shownInfo),
    startPanel((q) => {
      mergeDetail(q);
      toast(`started ${q.queue_id}`);
    }),
    h("div.toolbar", null, statusSelect, symbolInput, textInput, counts),
    loading,
    empty,
    scroller,
  );

  const refilter = () => {
    filter.status = statusSelect.value;
    filter.symbol = symbolInput.value.trim().toUpperCase();
    filter.text = textInput.value.trim();
    viewDirty = true;
    scroller.scrollTop = 0;
    schedule();
  };
  scope.listen(statusSelect, "change", refilter);
  scope.listen(symbolInput, "input", refilter);
  scope.listen(textInput, "input", refilter);
  scope.listen(scroller, "scroll", () => schedule());
  scope.listen(window, "resize", () => schedule());
  scope.listen(counts, "click", (e) => {
    const chip = (e.target as HTMLElement).closest<HTMLElement>("[data-status]");
    if (!chip) return;
    statusSelect.value = statusSelect.value === chip.dataset.status ? "" : (chip.dataset.status ?? "");
    refilter();
  });
  scope.listen(tbody, "click", (e) => void onAction(e));
  scope.interval(() => {
    forceAll = true;
    schedule();
  }, 1000);
  scope.add(() => cancelAnimationFrame(frame));

  // ---- the model ---------------------------------------------------------------------------

  function newRow(q: QueueSummary): Row {
    return {
      q,
      version: 1,
      expectedBy: new Map(),
      expected: expectedOf(q),
      finalTargets: new Set(),
      rate: 0,
      sampleT: performance.now(),
      sampleN: q.records_written,
    };
  }

  function sample(r: Row, n: number): void {
    const now = performance.now();
    const dt = (now - r.sampleT) / 1000;
    if (n < r.sampleN) {
      r.sampleN = n;
      r.sampleT = now;
      r.rate = 0;
      return;
    }
    if (dt < 0.5) return;
    const inst = (n - r.sampleN) / dt;
    r.rate = r.rate === 0 ? inst : r.rate * 0.6 + inst * 0.4;
    r.sampleN = n;
    r.sampleT = now;
  }

  function insertOrdered(id: string, createdAt: number): void {
    // Newest first; new queues are nearly always the newest.
    let i = 0;
    while (i < order.length && (rows.get(order[i])?.q.created_at ?? 0) > createdAt) i++;
    order.splice(i, 0, id);
  }

  // The list (first load, or again after a reconnect): replaces what it names.
  function mergeList(list: QueueSummary[]): void {
    const seen = new Set<string>();
    for (const q of list) {
      seen.add(q.queue_id);
      const r = rows.get(q.queue_id);
      if (r) {
        r.q = { ...q };
        const e = expectedOf(q);
        if (e !== undefined) r.expected = e;
        sample(r, q.records_written);
        r.version++;
      } else {
        rows.set(q.queue_id, newRow({ ...q }));
      }
    }
    for (const id of [...rows.keys()]) if (!seen.has(id)) rows.delete(id);
    order = [...rows.values()]
      .sort((a, b) => b.q.created_at - a.q.created_at || (a.q.queue_id < b.q.queue_id ? 1 : -1))
      .map((r) => r.q.queue_id);
    viewDirty = countsDirty = true;
    schedule();
  }

  // A full queue (a start's answer, or fetched for a queue the feed named first).
  function mergeDetail(q: Queue): void {
    const done = q.targets.filter((t) => FINAL_STATUSES.has(t.status));
    const summary: QueueSummary = {
      queue_id: q.queue_id,
      symbol: q.symbol,
      type: q.type,
      time_range: q.time_range,
      status: q.status,
      message: q.message,
      created_at: q.created_at,
      updated_at: q.updated_at,
      records_written: q.records_written,
      targets: q.targets.length,
      targets_done: done.length,
    };
    let r = rows.get(q.queue_id);
    if (!r) {
      r = newRow(summary);
      rows.set(q.queue_id, r);
      insertOrdered(q.queue_id, q.created_at);
    } else {
      // A message newer than the answer may have moved the queue on already, even to its end
      // (a start's answer can reach the page after the feed said `finished`): a status never
      // moves backwards. A repair's `pending` comes over the feed, which apply() takes.
      const keep = (RANK[r.q.status] ?? 0) > (RANK[q.status] ?? 0);
      if (keep) {
        summary.status = r.q.status;
        summary.message = r.q.message;
        summary.records_written = Math.max(summary.records_written, r.q.records_written);
        if (r.q.status === "finished") summary.targets_done = summary.targets;
      }
      r.q = summary;
      sample(r, summary.records_written);
    }
    r.finalTargets = new Set(done.map((t) => t.telemetry_id));
    r.expectedBy.clear();
    for (const t of q.targets) if (t.records_expected !== undefined) r.expectedBy.set(t.telemetry_id, t.records_expected);
    r.expected = expectedOf(q) ?? sumOrUndefined(r.expectedBy);
    r.version++;
    viewDirty = countsDirty = true;
    schedule();
  }

  function stub(id: string): Row {
    const r = newRow({
      queue_id: id,
      symbol: "",
      type: "",
      time_range: "",
      status: "pending",
      message: "",
      created_at: Date.now() / 1000,
      updated_at: Date.now() / 1000,
      records_written: 0,
      targets: 0,
      targets_done: 0,
    });
    rows.set(id, r);
    insertOrdered(id, r.q.created_at);
    viewDirty = countsDirty = true;
    fetchDetail(id);
    return r;
  }

  // Queues to fetch whole: ones the feed named before the list did, and repaired ones (a new
  // run brings new targets).
  const toFetch = new Set<string>();
  let fetching = 0;
  function fetchDetail(id: string): void {
    toFetch.add(id);
    pump();
  }
  function pump(): void {
    if (toFetch.size > 200) {
      // Many at once (another client started a batch): one list is cheaper.
      toFetch.clear();
      void loadList();
      return;
    }
    while (fetching < 4 && toFetch.size > 0) {
      const id = toFetch.values().next().value as string;
      toFetch.delete(id);
      fetching++;
      get<Queue>(`/queues/${encodeURIComponent(id)}`, scope.signal)
        .then((q) => mergeDetail(q))
        .catch((e) => {
          if (e instanceof ApiError && e.status === 404) {
            rows.delete(id);
            order = order.filter((x) => x !== id);
            viewDirty = countsDirty = true;
            schedule();
          }
        })
        .finally(() => {
          fetching--;
          if (!scope.disposed) pump();
        });
    }
  }

  function apply(m: FeedMessage): void {
    if (buffered) {
      // Until the list is read; past this many the list itself is newer than most of them.
      if (buffered.length < 100000) buffered.push(m);
      return;
    }
    switch (m.type) {
      case "queue_status": {
        const r = rows.get(m.queue_id) ?? stub(m.queue_id);
        const was = r.q.status;
        const repaired = FINAL_STATUSES.has(was) && m.status === "pending";
        if (repaired) fetchDetail(m.queue_id);
        // A status never moves backwards and a final one is final (docs/api.md), but a repair
        // takes an ended queue back to pending.
        const forward = (RANK[m.status] ?? 0) >= (RANK[was] ?? 0) && !(FINAL_STATUSES.has(was) && was !== m.status);
        if (repaired || forward) {
          r.q.status = m.status;
          r.q.message = m.message;
        }
        const n = repaired ? m.records_written : Math.max(r.q.records_written, m.records_written);
        if (n !== r.q.records_written) sample(r, n);
        r.q.records_written = n;
        if (m.status === "finished" && r.q.targets > 0) r.q.targets_done = r.q.targets;
        r.q.updated_at = Date.now() / 1000;
        if (was !== r.q.status) {
          countsDirty = true;
          if (filter.status) viewDirty = true;
        }
        break;
      }
      case "target_status": {
        const r = rows.get(m.queue_id) ?? stub(m.queue_id);
        if (FINAL_STATUSES.has(m.status) && !r.finalTargets.has(m.telemetry_id)) {
          r.finalTargets.add(m.telemetry_id);
          // Messages older than the list (replayed from the buffer) are already in its count.
          if (!replaying) r.q.targets_done = Math.min(r.q.targets || Infinity, r.q.targets_done + 1);
        }
        break;
      }
      case "event": {
        const r = rows.get(m.queue_id) ?? stub(m.queue_id);
        const ev = m.event;
        if (typeof ev.records_expected === "number" && r.expectedBy.get(ev.producer) !== ev.records_expected) {
          r.expectedBy.set(ev.producer, ev.records_expected);
          r.expected = sumOrUndefined(r.expectedBy);
        }
        break;
      }
      default:
        return;
    }
    const r = rows.get(m.queue_id);
    if (r) r.version++;
    stats.applied++;
    schedule();
  }

  // ---- rendering ---------------------------------------------------------------------------

  function schedule(): void {
    if (!frame && !scope.disposed) frame = requestAnimationFrame(render);
  }

  function matches(r: Row): boolean {
    if (filter.status && r.q.status !== filter.status) return false;
    if (filter.symbol && !r.q.symbol.startsWith(filter.symbol)) return false;
    if (filter.text && !r.q.queue_id.includes(filter.text)) return false;
    return true;
  }

  // A row's elements, made once and updated in place (a refill sets text and attributes only).
  interface RowEl extends HTMLTableRowElement {
    _id?: string;
    _version?: number;
    _badge: HTMLSpanElement;
    _link: HTMLAnchorElement;
    _bar: HTMLDivElement;
    _fill: HTMLDivElement;
    _text: HTMLSpanElement;
    _stop: HTMLButtonElement;
    _repair: HTMLButtonElement;
  }
  const pool: RowEl[] = [];

  function makeRowEl(): RowEl {
    const tr = document.createElement("tr") as RowEl;
    const cls = ["c-status", "c-id", "c-symbol", "c-type", "c-range", "c-num", "c-targets", "c-progress", "c-actions"];
    for (const c of cls) tr.appendChild(h("td", { class: c }));
    tr._badge = h("span.status");
    tr._link = h("a");
    tr._fill = h("div.bar-fill");
    tr._bar = h("div.bar", { role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100 }, tr._fill);
    tr._text = h("span.progress-text");
    tr._stop = h("button.small", { type: "button", "data-action": "stop", title: "stop the queue" }, "stop");
    tr._repair = h("button.small", { type: "button", "data-action": "repair", title: "load what the store lacks" }, "repair");
    const c = tr.cells;
    c[0].appendChild(tr._badge);
    c[1].appendChild(tr._link);
    c[7].appendChild(h("div.progress", null, tr._bar, tr._text));
    c[8].append(tr._stop, tr._repair);
    return tr;
  }

  function fill(tr: RowEl, r: Row): void {
    const q = r.q;
    const c = tr.cells;
    if (tr._id !== q.queue_id) {
      tr._id = q.queue_id;
      tr.dataset.queueId = q.queue_id;
      tr._link.href = `#/queue/${seg(q.queue_id)}`;
      tr._link.textContent = q.queue_id;
    }
    tr._version = r.version;
    tr.dataset.status = q.status;
    tr._badge.className = `status status-${q.status}`;
    tr._badge.dataset.status = q.status;
    tr._badge.textContent = q.status;
    tr._badge.title = q.message;
    tr._link.title = q.message || q.queue_id;
    setText(c[2], q.symbol);
    setText(c[3], q.type);
    setText(c[4], q.time_range);
    c[4].title = q.time_range;
    setText(c[5], int(q.records_written));
    setText(c[6], `${q.targets_done}/${q.targets}`);
    c[6].dataset.done = String(q.targets_done);
    c[6].dataset.total = String(q.targets);
    const running = !FINAL_STATUSES.has(q.status);
    tr._stop.disabled = !running;
    tr._repair.disabled = running;
    progress(tr, r, running);
  }

  function progress(tr: RowEl, r: Row, running: boolean): void {
    const q = r.q;
    const exp = r.expected;
    let text = "";
    let width = "0%";
    let indeterminate = false;
    if (exp !== undefined && exp > 0) {
      const f = Math.min(1, q.records_written / exp);
      width = `${(f * 100).toFixed(1)}%`;
      tr._bar.setAttribute("aria-valuenow", (f * 100).toFixed(0));
      text = `${(f * 100).toFixed(f < 0.1 ? 1 : 0)}%`;
    } else {
      tr._bar.removeAttribute("aria-valuenow");
      if (q.status === "finished") width = "100%";
      else indeterminate = running;
    }
    const cls = `bar bar-${q.status}${indeterminate ? " indeterminate" : ""}`;
    if (tr._bar.className !== cls) tr._bar.className = cls;
    if (!indeterminate && tr._fill.style.width !== width) tr._fill.style.width = width;
    if (indeterminate && tr._fill.style.width) tr._fill.style.width = "";
    // The rate fades when nothing arrives.
    const idle = (performance.now() - r.sampleT) / 1000;
    const rate = running && idle < 10 ? r.rate : 0;
    if (running && rate > 0) {
      text += `${text ? " · " : ""}${compact(rate)}/s`;
      if (exp !== undefined && exp > q.records_written) text += ` · ${duration((exp - q.records_written) / rate)} left`;
    }
    setText(tr._text, text);
  }

  function render(): void {
    frame = 0;
    if (scope.disposed) return;
    const t0 = performance.now();
    if (viewDirty) {
      view = [];
      for (const id of order) {
        const r = rows.get(id);
        if (r && matches(r)) view.push(id);
      }
      viewDirty = false;
      forceAll = true;
    }
    if (countsDirty) {
      renderCounts();
      countsDirty = false;
    }
    const n = view.length;
    const top = scroller.scrollTop;
    const height = scroller.clientHeight || 600;
    const start = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const end = Math.min(n, Math.ceil((top + height) / ROW_H) + OVERSCAN);
    (topSpacer.firstChild as HTMLElement).style.height = `${start * ROW_H}px`;
    (bottomSpacer.firstChild as HTMLElement).style.height = `${(n - end) * ROW_H}px`;
    const want = end - start;
    while (pool.length < want) {
      const tr = makeRowEl();
      pool.push(tr);
      tbody.insertBefore(tr, bottomSpacer);
    }
    while (pool.length > want) pool.pop()!.remove();
    for (let i = 0; i < want; i++) {
      const r = rows.get(view[start + i])!;
      const tr = pool[i];
      if (forceAll || tr._id !== r.q.queue_id || tr._version !== r.version) fill(tr, r);
    }
    forceAll = false;
    table.dataset.total = String(rows.size);
    table.dataset.shown = String(n);
    shownInfo.textContent = n === rows.size ? `${int(n)} workflows` : `${int(n)} of ${int(rows.size)} workflows`;
    empty.hidden = !loaded || rows.size > 0;
    const dt = performance.now() - t0;
    recordRender(dt);
    if (loaded && !firstRenderDone) {
      firstRenderDone = true;
      table.dataset.ready = "true";
      loading.hidden = true;
      if (stats.listFirstRenderMs === null) stats.listFirstRenderMs = Math.round(performance.now());
      stats.listRows = rows.size;
    }
  }

  function renderCounts(): void {
    const c = new Map<string, number>();
    for (const r of rows.values()) c.set(r.q.status, (c.get(r.q.status) ?? 0) + 1);
    counts.replaceChildren(
      ...STATUSES.filter((s) => c.get(s)).map((s) =>
        h(
          "button",
          { class: `chip status-${s}${filter.status === s ? " active" : ""}`, "data-status": s, type: "button" },
          `${s} ${int(c.get(s) ?? 0)}`,
        ),
      ),
    );
  }

  // ---- actions -----------------------------------------------------------------------------

  async function onAction(e: Event): Promise<void> {
    const btn = (e.target as HTMLElement).closest<HTMLButtonElement>("button[data-action]");
    const tr = btn?.closest<HTMLTableRowElement>("tr[data-queue-id]");
    if (!btn || !tr) return;
    const id = tr.dataset.queueId!;
    btn.disabled = true;
    try {
      if (btn.dataset.action === "stop") {
        await post("/queues/stop", { queue_id: id });
        toast(`stop sent to ${id}`);
      } else {
        const res = await post<RepairAnswer>(`/queues/${encodeURIComponent(id)}/repair`, {});
        toast(repairText(res.status, res.body));
      }
    } catch (err) {
      toast(`${id}: ${errorText(err)}`, "error");
    } finally {
      btn.disabled = false;
    }
  }

  // ---- loading -----------------------------------------------------------------------------

  let listLoading = false;
  let reloadAfter = false; // the feed (re)subscribed while a list request was under way
  async function loadList(): Promise<void> {
    if (listLoading) {
      reloadAfter = true;
      return;
    }
    listLoading = true;
    reloadAfter = false;
    const t0 = performance.now();
    try {
      const list = await get<{ queues: QueueSummary[] }>("/queues/list", scope.signal);
      if (stats.listLoadMs === null) stats.listLoadMs = Math.round(performance.now() - t0);
      loaded = true;
      loading.classList.remove("error-text");
      mergeList(list.queues);
      const pending = buffered;
      buffered = null;
      replaying = true;
      for (const m of pending ?? []) apply(m);
      replaying = false;
    } catch (e) {
      if (isAbort(e)) return;
      loading.hidden = false;
      loading.classList.add("error-text");
      if (e instanceof ApiError && e.status === 401) {
        loading.textContent = "The API token is needed to list workflows.";
      } else {
        // The manager restarting, the store unavailable (503): try again shortly.
        loading.textContent = `Cannot list workflows: ${errorText(e)} (trying again)`;
        const retry = window.setTimeout(() => void loadList(), 3000);
        scope.add(() => clearTimeout(retry));
      }
    } finally {
      listLoading = false;
      if (reloadAfter && !scope.disposed) {
        buffered = buffered ?? [];
        void loadList();
      }
    }
  }

  // The list is read once the feed has subscribed, so no change falls between the two; after a
  // reconnect it is read again (messages meanwhile wait in `buffered`).
  let listRequested = false;
  const feed = new Feed({
    onMessage: (m) => {
      stats.messages++;
      apply(m);
    },
    onSync: () => {
      buffered = buffered ?? [];
      listRequested = true;
      void loadList();
    },
  });
  scope.add(() => feed.close());
  // Without a feed after 1.5 s (no WebSocket through a proxy, a slow handshake), read it anyway.
  const fallback = window.setTimeout(() => {
    if (!listRequested) void loadList();
  }, 1500);
  scope.add(() => clearTimeout(fallback));

  return { el, dispose: () => scope.dispose() };
}

function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

function sumOrUndefined(m: Map<string, number>): number | undefined {
  if (m.size === 0) return undefined;
  let s = 0;
  for (const v of m.values()) s += v;
  return s;
}

export function repairText(status: number, a: RepairAnswer): string {
  if (status === 202)
    return `${a.queue_id}: repair run ${a.run ?? ""} started for ${a.missing_ranges.length} missing range(s)`;
  return `${a.queue_id}: ${a.message}`;
}
