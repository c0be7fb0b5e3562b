// The visualizer: a one-page app with hash routes.
//   #/                     workflows (live)          #/queue/<id>       one workflow
//   #/data                 collections               #/data/<name>      a collection's view
//   #/graphs, #/models     graphs and models         #/graphs/<graph>   a graph's snapshots
//   #/models/<queue_id>    a model's training curves

import { initAuth } from "./auth";
import { byId, h } from "./dom";
import type { Page } from "./page";
import { dataListPage, dataPage } from "./pages/data";
import { graphPage, graphsListPage } from "./pages/graphs";
import { modelPage } from "./pages/models";
import { workflowPage } from "./pages/workflow";
import { workflowsPage } from "./pages/workflows";
import { startFrameSampler } from "./stats";

let current: Page | null = null;

function route(): Page {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, qs] = splitOnce(raw, "?");
  const params = new URLSearchParams(qs);
  const parts = path.split("/").filter(Boolean).map(safeDecode);
  const [a, b] = parts;
  setActive(a ?? "");
  if (!a) return workflowsPage();
  if (a === "queue" && b) return workflowPage(b);
  if (a === "data" && !b) return dataListPage();
  if (a === "data" && b) return dataPage(b, params);
  if ((a === "graphs" || a === "models") && !b) return graphsListPage();
  if (a === "graphs" && b) return graphPage(b, params);
  if (a === "models" && b) return modelPage(b);
  const el = h("section#page-missing.page", null, h("h1", null, "Not found"), h("p", null, "No page at ", h("code", null, raw), ". ", h("a", { href: "#/" }, "Workflows")));
  return { el, dispose() {} };
}

function render(): void {
  current?.dispose();
  current = null;
  const app = byId("app");
  if (!app) return;
  const page = route();
  current = page;
  app.replaceChildren(page.el);
  document.body.dataset.route = location.hash || "#/";
}

function setActive(section: string): void {
  const key = section === "queue" || section === "" ? "workflows" : section === "models" ? "graphs" : section;
  for (const a of document.querySelectorAll<HTMLAnchorElement>("#nav a[data-nav]")) {
    a.classList.toggle("active", a.dataset.nav === key);
  }
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ""] : [s.slice(0, i), s.slice(i + 1)];
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function start(): void {
  startFrameSampler();
  initAuth(render);
  window.addEventListener("hashchange", render);
  render();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
