// Reading the data API: /data/collections and /data/collections/{name}/records.

import { get, query } from "./api";
import type { Collection, RecordsAnswer } from "./types";

export const MAX_LIMIT = 100000;

export interface RecordQuery {
  symbol?: string;
  interval?: string;
  from?: number; // ms, inclusive
  to?: number; // ms, exclusive
  limit?: number;
  fields?: string[]; // only these fields of each record (the read API's `fields`)
}

export async function collections(signal?: AbortSignal): Promise<Collection[]> {
  return (await get<{ collections: Collection[] }>("/data/collections", signal)).collections;
}

export async function records<R>(name: string, q: RecordQuery, signal?: AbortSignal): Promise<RecordsAnswer<R>> {
  return get<RecordsAnswer<R>>(
    `/data/collections/${encodeURIComponent(name)}/records${query({
      symbol: q.symbol,
      interval: q.interval,
      from: q.from === undefined ? undefined : Math.max(0, Math.floor(q.from)),
      to: q.to === undefined ? undefined : Math.floor(q.to),
      limit: q.limit,
      fields: q.fields && q.fields.length ? q.fields.join(",") : undefined,
    })}`,
    signal,
  );
}

// Every record of [from, to), paging past the limit (a page that comes back truncated is followed
// by one from its last record's time on; `key` drops the records seen twice at that time).
export async function recordsAll<R>(
  name: string,
  q: RecordQuery & { from: number; to: number },
  time: (r: R) => number,
  key: (r: R) => string | number,
  signal?: AbortSignal,
  cap = 500000,
): Promise<R[]> {
  const out: R[] = [];
  const seen = new Set<string | number>();
  let from = q.from;
  for (;;) {
    const page = await records<R>(name, { ...q, from, limit: q.limit ?? 20000 }, signal);
    for (const r of page.records) {
      const k = key(r);
      if (!seen.has(k)) {
        seen.add(k);
        out.push(r);
      }
    }
    if (!page.truncated || page.records.length === 0 || out.length >= cap) return out;
    const next = time(page.records[page.records.length - 1]);
    if (next <= from) return out; // one instant holds more than a page: stop rather than loop
    from = next;
  }
}

// The newest `want` records of a symbol up to `end` (exclusive): windows growing backwards from
// `end` by `span` x4 each time, until enough or `start` (the collection's first time) is passed.
export async function tail<R>(
  name: string,
  q: { symbol?: string; interval?: string },
  end: number,
  start: number,
  want: number,
  span: number,
  time: (r: R) => number,
  key: (r: R) => string | number,
  signal?: AbortSignal,
): Promise<R[]> {
  let from = end - span;
  if (end <= start) return [];
  for (;;) {
    const got = await recordsAll<R>(name, { ...q, from: Math.max(from, start), to: end }, time, key, signal, want * 4);
    if (got.length >= want || from <= start) return got.slice(-want);
    span *= 4;
    from = end - span;
  }
}

// A Binance kline interval's length in ms (1M: 30 days, an approximation).
export function intervalMs(interval: string): number {
  const m = /^(\d+)([smhdwM])$/.exec(interval);
  if (!m) return 60000;
  const unit = { s: 1000, m: 60000, h: 3600000, d: 86400000, w: 604800000, M: 2592000000 }[m[2]] ?? 60000;
  return Number(m[1]) * unit;
}

// The key of the first record of a collection: what it holds when the listing does not say.
export async function firstRecord<R>(name: string, signal?: AbortSignal): Promise<R | null> {
  const r = await records<R>(name, { limit: 1 }, signal);
  return r.records[0] ?? null;
}
