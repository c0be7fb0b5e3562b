// The "Start" panel of the workflows page: a form per test flow, built from /openapi.json's
// TestFlowRequest alternatives (checked against their schema before sending), and a textarea
// whose JSON body goes to POST /queues/start as it is.

import { ApiError, errorText, get, post } from "../api";
import { clear, h, seg } from "../dom";
import { alternatives, check, describe, inputKind, parseInput, resolve, type OpenApi, type Schema } from "../schema";
import type { Queue } from "../types";

export function startPanel(onStarted: (q: Queue) => void): HTMLElement {
  let doc: OpenApi | null = null;
  let flows: Schema[] = [];

  const flowSelect = h("select#start-flow", { name: "flow_name", "aria-label": "test flow" });
  const flowDesc = h("p#start-flow-description.muted.small-text");
  const symbol = h("input#start-symbol", { name: "symbol", value: "BTCUSDT", autocomplete: "off", spellcheck: "false" });
  const timeRange = h("input#start-time-range", {
    name: "time_range",
    value: defaultRange(),
    autocomplete: "off",
    spellcheck: "false",
    size: 24,
  });
  const params = h("div#start-params.params");
  const error = h("div#start-error.form-error", { role: "alert", hidden: true });
  const result = h("div#start-result.form-ok", { hidden: true });
  const submit = h("button#start-submit.primary", { type: "submit" }, "Start");

  const form = h(
    "form#start-form.start-form",
    { novalidate: true },
    h("div.row", null, field("flow", flowSelect), field("symbol", symbol), field("time range (UTC, A:B)", timeRange)),
    flowDesc,
    params,
    h("div.row", null, submit, error, result),
  );

  const json = h("textarea#start-json", {
    rows: 8,
    spellcheck: "false",
    placeholder:
      '{"symbol": "BTCUSDT", "type": "dummy", "time_range": "2024-08-01:2024-08-02",\n "targets": [{"target": "dummy-service", "duration_s": 1}]}',
    "aria-label": "start request body",
  });
  const jsonError = h("div#start-json-error.form-error", { role: "alert", hidden: true });
  const jsonResult = h("div#start-json-result.form-ok", { hidden: true });
  const jsonForm = h(
    "form#start-json-form.start-form",
    null,
    h("p.muted.small-text", null, "A POST /queues/start body (docs/protocol.md's start request), sent as it is."),
    json,
    h("div.row", null, h("button#start-json-submit.primary", { type: "submit" }, "POST /queues/start"), jsonError, jsonResult),
  );

  const status = h("p.muted", null, "Loading the flows…");
  const body = h("div.start-body", null, status);
  const panel = h(
    "details#start-panel.panel",
    null,
    h("summary", null, "Start a workflow"),
    body,
  );

  let loaded = false;
  panel.addEventListener("toggle", () => {
    if (panel.open && !loaded) {
      loaded = true;
      void load();
    }
  });

  async function load(): Promise<void> {
    try {
      doc = await get<OpenApi>("/openapi.json");
      flows = alternatives(doc, doc.components?.schemas?.TestFlowRequest);
      clear(flowSelect);
      for (const f of flows) {
        const name = flowName(f);
        flowSelect.appendChild(h("option", { value: name }, name));
      }
      const pick = flows.find((f) => flowName(f) === "dummy_single") ?? flows[0];
      if (pick) flowSelect.value = flowName(pick);
      body.replaceChildren(
        h("div.tabs", null, h("h3", null, "From a test flow"), form),
        h("div.tabs", null, h("h3", null, "JSON body"), jsonForm),
      );
      renderParams();
    } catch (e) {
      loaded = false;
      status.textContent = `Cannot read /openapi.json: ${errorText(e)}`;
      status.className = "error-text";
    }
  }

  function current(): Schema | undefined {
    return flows.find((f) => flowName(f) === flowSelect.value);
  }

  function renderParams(): void {
    clear(params);
    const f = current();
    if (!f || !doc) return;
    flowDesc.textContent = f.description ?? "";
    const symSchema = resolve(doc, f.properties?.symbol);
    symbol.title = symSchema.description ?? "";
    const extra = resolve(doc, f.properties?.extra_params);
    const required = new Set(extra.required ?? []);
    for (const [name, raw] of Object.entries(extra.properties ?? {})) {
      const s = resolve(doc, raw);
      const id = `start-param-${name}`;
      let input: HTMLInputElement | HTMLSelectElement;
      const kind = inputKind(s);
      if (kind === "enum") {
        input = h(
          "select",
          { id },
          required.has(name) ? null : h("option", { value: "" }, "(default)"),
          (s.enum ?? []).map((v) => h("option", { value: String(v) }, String(v))),
        );
        if (s.default !== undefined) input.value = String(s.default);
      } else if (kind === "boolean") {
        input = h("input", { id, type: "checkbox" });
        (input as HTMLInputElement).checked = s.default === true;
      } else {
        input = h("input", {
          id,
          type: kind === "integer" || kind === "number" ? "number" : "text",
          step: kind === "integer" ? "1" : kind === "number" ? "any" : undefined,
          autocomplete: "off",
          spellcheck: "false",
          value: s.default === undefined ? "" : Array.isArray(s.default) ? s.default.join(",") : String(s.default),
          placeholder: kind === "array" ? "a,b,c" : "",
        });
      }
      input.dataset.param = name;
      input.setAttribute("name", `extra_params.${name}`);
      const hint = [describe(s), s.description].filter(Boolean).join(" — ");
      params.appendChild(
        h(
          "label.param",
          { for: id, title: hint },
          h("span.param-name", null, name, required.has(name) ? h("span.req", null, " *") : null),
          input,
          h("span.param-hint", null, describe(s)),
        ),
      );
    }
  }
  flowSelect.addEventListener("change", () => {
    resetErrors();
    renderParams();
  });

  function resetErrors(): void {
    error.hidden = true;
    error.textContent = "";
    delete error.dataset.field;
    result.hidden = true;
    for (const el of form.querySelectorAll(".invalid")) {
      el.classList.remove("invalid");
      el.removeAttribute("aria-invalid");
    }
  }

  function fail(fieldName: string, text: string): void {
    error.hidden = false;
    error.textContent = fieldName ? `${text} (field: ${fieldName})` : text;
    error.dataset.field = fieldName;
    const input = inputFor(fieldName);
    if (input) {
      input.classList.add("invalid");
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }

  function inputFor(fieldName: string): HTMLElement | null {
    if (fieldName === "symbol") return symbol;
    if (fieldName === "time_range") return timeRange;
    if (fieldName === "flow_name") return flowSelect;
    const m = /^extra_params\.(.+)$/.exec(fieldName);
    return m ? params.querySelector<HTMLElement>(`[data-param="${CSS.escape(m[1])}"]`) : null;
  }

  // The request body, or null after showing why it cannot be sent.
  function build(): Record<string, unknown> | null {
    const f = current();
    if (!f || !doc) return null;
    const body: Record<string, unknown> = {
      flow_name: flowSelect.value,
      symbol: symbol.value.trim(),
      time_range: timeRange.value.trim(),
    };
    for (const key of ["symbol", "time_range"] as const) {
      const err = check(doc, f.properties?.[key], body[key]);
      if (err) {
        fail(key, `${key} ${err}`);
        return null;
      }
    }
    const order = rangeOrder(body.time_range as string);
    if (order) {
      fail("time_range", order);
      return null;
    }
    const extra = resolve(doc, f.properties?.extra_params);
    const required = new Set(extra.required ?? []);
    const values: Record<string, unknown> = {};
    for (const [name, raw] of Object.entries(extra.properties ?? {})) {
      const s = resolve(doc, raw);
      const input = params.querySelector<HTMLInputElement | HTMLSelectElement>(`[data-param="${CSS.escape(name)}"]`);
      if (!input) continue;
      let v: unknown;
      if (input instanceof HTMLInputElement && input.type === "checkbox") {
        v = input.checked;
      } else {
        const r = parseInput(doc, s, input.value);
        if (r.error) {
          fail(`extra_params.${name}`, `${name} ${r.error}`);
          return null;
        }
        v = r.value;
      }
      if (v === undefined) {
        if (required.has(name)) {
          fail(`extra_params.${name}`, `${name} is required`);
          return null;
        }
        continue;
      }
      const err = check(doc, s, v);
      if (err) {
        fail(`extra_params.${name}`, `${name} ${err}`);
        return null;
      }
      values[name] = v;
    }
    if (Object.keys(values).length > 0) body.extra_params = values;
    return body;
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    resetErrors();
    const body = build();
    if (!body) return;
    void send("/queues/start-test-flow", body, submit, fail, result);
  });

  jsonForm.addEventListener("submit", (e) => {
    e.preventDefault();
    jsonError.hidden = true;
    jsonResult.hidden = true;
    let body: unknown;
    try {
      body = JSON.parse(json.value);
    } catch (err) {
      jsonError.hidden = false;
      jsonError.textContent = `Not JSON: ${err instanceof Error ? err.message : String(err)}`;
      jsonError.dataset.field = "body";
      return;
    }
    const button = jsonForm.querySelector<HTMLButtonElement>("button")!;
    void send(
      "/queues/start",
      body,
      button,
      (fieldName, text) => {
        jsonError.hidden = false;
        jsonError.textContent = fieldName ? `${text} (field: ${fieldName})` : text;
        jsonError.dataset.field = fieldName;
      },
      jsonResult,
    );
  });

  async function send(
    path: string,
    body: unknown,
    button: HTMLButtonElement,
    onError: (fieldName: string, text: string) => void,
    ok: HTMLElement,
  ): Promise<void> {
    button.disabled = true;
    try {
      const res = await post<Queue>(path, body);
      const q = res.body;
      ok.hidden = false;
      ok.replaceChildren("Started ", h("a", { href: `#/queue/${seg(q.queue_id)}`, "data-queue-id": q.queue_id }, q.queue_id));
      if (q.estimate) ok.append(` — about ${q.estimate.records_expected.toLocaleString("en-US")} records expected`);
      onStarted(q);
    } catch (e) {
      if (e instanceof ApiError) onError(e.field, `${e.status}: ${e.message}`);
      else onError("", errorText(e));
    } finally {
      button.disabled = false;
    }
  }

  return panel;
}

function flowName(s: Schema): string {
  const e = s.properties?.flow_name?.enum;
  return e && typeof e[0] === "string" ? e[0] : (s.title ?? "?");
}

function field(label: string, input: HTMLElement): HTMLElement {
  return h("label.field", null, h("span", null, label), input);
}

// Yesterday:today (UTC dates).
function defaultRange(): string {
  const day = 86400000;
  const today = Math.floor(Date.now() / day) * day;
  const d = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  return `${d(today - day)}:${d(today)}`;
}

// The check no schema states: the end must be after the start. Empty when it is.
function rangeOrder(range: string): string {
  const parts = /^(.+?):(\d{4}-.+)$/.exec(range);
  if (!parts) return "";
  const t = (s: string) => {
    const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?Z?)?$/.exec(s);
    return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0)) : NaN;
  };
  const a = t(parts[1]);
  const b = t(parts[2]);
  return Number.isFinite(a) && Number.isFinite(b) && b <= a ? "time_range must end after it starts" : "";
}
