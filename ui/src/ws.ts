// The manager's WebSocket feed (/ws/events): reconnects with backoff; after every
// (re)connection `onSync` runs once the server has said "subscribed", so a page can fetch what
// it missed while disconnected.

import { ApiError, feedSocket, get } from "./api";
import { byId } from "./dom";
import type { FeedMessage } from "./types";

export interface FeedHandlers {
  onMessage(m: FeedMessage): void;
  onSync?(first: boolean): void; // after "subscribed": first is false after a reconnect
  onRefused?(): void; // the queue of a ?queue_id= feed is unknown (404) or the socket keeps failing
}

export class Feed {
  private ws: WebSocket | null = null;
  private closed = false;
  private backoff = 500;
  private timer: number | undefined;
  private subscribedOnce = false;
  private failures = 0;

  constructor(
    private readonly handlers: FeedHandlers,
    private readonly queueId?: string,
  ) {
    this.connect();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close();
      this.ws = null;
    }
    setState("closed");
  }

  private connect(): void {
    if (this.closed) return;
    setState("connecting");
    let opened = false;
    let ws: WebSocket;
    try {
      ws = feedSocket(this.queueId);
    } catch {
      this.retry(false);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data !== "string") return;
      let m: FeedMessage;
      try {
        m = JSON.parse(ev.data) as FeedMessage;
      } catch {
        return;
      }
      if (m.type === "subscribed") {
        this.backoff = 500;
        this.failures = 0;
        setState("open");
        const first = !this.subscribedOnce;
        this.subscribedOnce = true;
        this.handlers.onSync?.(first);
        return;
      }
      this.handlers.onMessage(m);
    };
    ws.onclose = () => {
      this.ws = null;
      if (!this.closed) this.retry(opened);
    };
  }

  private retry(wasOpen: boolean): void {
    setState("connecting");
    if (!wasOpen) {
      // The handshake failed: a 401 (wrong or missing token) or 404 (unknown queue) looks the
      // same as a network error to a browser; ask the REST API, which says which.
      this.failures++;
      if (this.failures === 1 || this.failures % 5 === 0) void this.probe();
    }
    this.timer = window.setTimeout(() => this.connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, 10000);
  }

  private async probe(): Promise<void> {
    try {
      await get(this.queueId ? `/queues/${encodeURIComponent(this.queueId)}` : "/flows");
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) this.handlers.onRefused?.();
      // 401: api.ts has shown the token prompt
    }
  }
}

function setState(state: "open" | "connecting" | "closed"): void {
  const el = byId("feed-status");
  if (!el) return;
  el.dataset.state = state;
  el.textContent = state === "open" ? "live" : state === "connecting" ? "connecting…" : "offline";
}
