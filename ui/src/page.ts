// What a route's page gives the router: its element and what to stop when it is left.

export interface Page {
  el: HTMLElement;
  dispose(): void;
}

// Collects what a page must undo: timers, listeners, sockets, charts, pending requests.
export class Scope {
  private undo: (() => void)[] = [];
  readonly abort = new AbortController();
  disposed = false;

  add(f: () => void): void {
    this.undo.push(f);
  }

  interval(f: () => void, ms: number): void {
    const id = window.setInterval(f, ms);
    this.add(() => clearInterval(id));
  }

  listen<K extends keyof WindowEventMap>(target: Window, type: K, f: (e: WindowEventMap[K]) => void): void;
  listen(target: EventTarget, type: string, f: (e: Event) => void): void;
  listen(target: EventTarget, type: string, f: (e: never) => void): void {
    target.addEventListener(type, f as EventListener);
    this.add(() => target.removeEventListener(type, f as EventListener));
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  dispose(): void {
    this.disposed = true;
    this.abort.abort();
    for (const f of this.undo.reverse()) {
      try {
        f();
      } catch {
        // keep undoing the rest
      }
    }
    this.undo = [];
  }
}
