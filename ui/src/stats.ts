// window.__sfStats: render timings for the browser performance test.
//   listFirstRenderMs  ms from the page's start (performance.now() origin) to the first render
//                      of the workflow list with its rows
//   listLoadMs         ms the /queues/list request took
//   frames             the last 240 frame intervals (ms between animation frames)
//   renders            the last 240 durations (ms) of the list's batched renders
//   messages           WebSocket messages received; applied: those that changed a row
//   reset()            empties frames and renders (e.g. before a load phase)

const KEEP = 240;

export interface SfStats {
  listFirstRenderMs: number | null;
  listLoadMs: number | null;
  listRows: number;
  frames: number[];
  renders: number[];
  messages: number;
  applied: number;
  maxFrameMs(): number;
  reset(): void;
}

function push(a: number[], v: number): void {
  a.push(Math.round(v * 100) / 100);
  if (a.length > KEEP) a.splice(0, a.length - KEEP);
}

export const stats: SfStats = {
  listFirstRenderMs: null,
  listLoadMs: null,
  listRows: 0,
  frames: [],
  renders: [],
  messages: 0,
  applied: 0,
  maxFrameMs() {
    return this.frames.length ? Math.max(...this.frames) : 0;
  },
  reset() {
    this.frames.length = 0;
    this.renders.length = 0;
  },
};

export function recordRender(ms: number): void {
  push(stats.renders, ms);
}

declare global {
  interface Window {
    __sfStats: SfStats;
  }
}

// Samples frame intervals while the page is visible (a few microseconds a frame).
export function startFrameSampler(): void {
  window.__sfStats = stats;
  let last = 0;
  const tick = (t: number) => {
    if (last && document.visibilityState === "visible") push(stats.frames, t - last);
    last = t;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}
