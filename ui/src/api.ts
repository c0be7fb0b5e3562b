// Calls to the manager's API: the bearer token (kept in sessionStorage), JSON bodies and the
// API's {"error","field"} answers.

const TOKEN_KEY = "streamforge.token";

export function getToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token: string | null): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: the token lives for this page only
  }
  memoryToken = token;
}

let memoryToken: string | null = null;
function token(): string | null {
  return getToken() ?? memoryToken;
}

// An answer other than 2xx. `field` is the API's offending field ("" when none).
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field: string = "",
    readonly body: unknown = null,
  ) {
    super(message);
  }
}

// Called on every 401 (auth.ts shows the token prompt).
let unauthorized: () => void = () => {};
export function onUnauthorized(f: () => void): void {
  unauthorized = f;
}

export interface CallOptions {
  method?: string;
  body?: unknown; // JSON-encoded; a string is sent as it is
  signal?: AbortSignal;
}

// The answer's JSON and status. Non-2xx answers throw ApiError.
export async function call<T>(path: string, opts: CallOptions = {}): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
    headers["Content-Type"] = "application/json";
  }
  let res: Response;
  try {
    res = await fetch(path, { method: opts.method ?? "GET", headers, body, signal: opts.signal });
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new ApiError(0, `the manager cannot be reached (${String(e)})`);
  }
  const text = await res.text();
  let parsed: unknown = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!res.ok) {
    if (res.status === 401) unauthorized();
    const err = parsed && typeof parsed === "object" ? (parsed as { error?: unknown; field?: unknown }) : {};
    const msg = typeof err.error === "string" ? err.error : `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, msg, typeof err.field === "string" ? err.field : "", parsed);
  }
  return { status: res.status, body: parsed as T };
}

export async function get<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await call<T>(path, { signal })).body;
}

export async function post<T>(path: string, body: unknown): Promise<{ status: number; body: T }> {
  return call<T>(path, { method: "POST", body });
}

// "?a=1&b=x" from the defined entries.
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

// The WebSocket URL of the feed, and the subprotocols that carry the token:
// ["streamforge", "bearer.<base64url of the token, no padding>"].
export function feedSocket(queueId?: string): WebSocket {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const url = `${proto}//${location.host}/ws/events${queueId ? query({ queue_id: queueId }) : ""}`;
  const t = token();
  return t ? new WebSocket(url, ["streamforge", `bearer.${base64url(t)}`]) : new WebSocket(url);
}

export function base64url(s: string): string {
  const utf8 = new TextEncoder().encode(s);
  let bin = "";
  for (const b of utf8) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.field ? `${e.message} (field ${e.field})` : e.message;
  return e instanceof Error ? e.message : String(e);
}

export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === "AbortError";
}
