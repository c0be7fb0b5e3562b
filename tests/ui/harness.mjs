// Shared pieces of the browser tests (tests/ui/run): a real `streamforge sim` and
// `streamforge up` on free ports of 127.0.0.1, and Debian's chromium driven by
// playwright-core. Every process a test starts is stopped by pid when it ends (SIGTERM, then
// SIGKILL after 10 s), and its temp dir removed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

export const BIN = process.env.STREAMFORGE_BIN;
if (!BIN) throw new Error('STREAMFORGE_BIN must name the streamforge binary (tests/ui/run sets it)');
export const CHROMIUM = process.env.SF_CHROMIUM || '/usr/bin/chromium';
// Where the tests leave their screenshots (docs/ui/ holds a copy: docs/ui/README.md).
export const SHOTS = process.env.SF_UI_SCREENSHOTS || join(tmpdir(), 'sf-ui-screenshots');

// Starts `streamforge ARGS...`; resolves with {proc, url} once it printed its URL.
function startProcess(args, logFile) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      reject(new Error(`streamforge ${args[0]} printed no URL in 30 s: ${err.slice(-2000)}`));
    }, 30_000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/http:\/\/[0-9.]+:[0-9]+/);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[0] });
      }
    });
    proc.stderr.on('data', (d) => {
      err += d;
      if (err.length > 1 << 20) err = err.slice(-(1 << 19));
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`streamforge ${args[0]} exited with ${code}: ${err.slice(-2000)}`));
    });
    proc.logTail = () => err.slice(-4000);
  });
}

async function stopProcess(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const done = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await done;
  clearTimeout(killer);
}

// The simulator and an embedded manager (memory bus, SQLite, in-process workers) in a temp
// dir; `token` makes the manager require it; simArgs and upArgs go to each command. Returns {url, simUrl, token, api(), startTestFlow(), stop()}.
export async function startStack({ token = '', upArgs = [], simArgs = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sf-ui-'));
  const procs = [];
  const stop = async () => {
    for (const p of procs.reverse()) await stopProcess(p);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const sim = await startProcess(['sim', '--port', '0', ...simArgs]);
    procs.push(sim.proc);
    const args = ['up', '--listen', '127.0.0.1', '--port', '0', '--data-dir', join(dir, 'data'),
      '--exchange-url', sim.url, '--stop-grace', '1', ...upArgs];
    if (token) args.push('--token', token);
    const up = await startProcess(args);
    procs.push(up.proc);
    // The API as a test client sees it (JSON in, JSON out).
    const api = async (path, { method = 'GET', body } = {}) => {
      const headers = { 'content-type': 'application/json' };
      if (token) headers.authorization = `Bearer ${token}`;
      const r = await fetch(up.url + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      return { status: r.status, json, text };
    };
    // Starts a test flow (`body`: POST /queues/start-test-flow's) and returns its queue id;
    // an assertion error unless the manager answered 201.
    const startTestFlow = async (body) => {
      const r = await api('/queues/start-test-flow', { method: 'POST', body });
      assert.equal(r.status, 201, r.text);
      return r.json.queue_id;
    };
    return { url: up.url, simUrl: sim.url, token, dir, api, startTestFlow, stop,
      upLog: up.proc.logTail };
  } catch (e) {
    await stop();
    throw e;
  }
}

// Headless chromium with the flags this machine needs (no network beyond loopback) and a
// fresh profile. Returns {browser, page, close()}.
export async function openBrowser({ viewport = { width: 1400, height: 900 } } = {}) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return { browser, context, page, errors, close: () => browser.close() };
}

export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, name + '.png') });
}

// Polls `fn` until it returns a truthy value (returned) or `ms` pass (throws with `what`).
export async function until(fn, what, ms = 60_000, every = 250) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

export function readJson(path) { return JSON.parse(readFileSync(path, 'utf8')); }

// A test file's stack and browser: started before its tests, stopped after them. The
// returned object gets `stack` and `ui` once started.
export function useStackAndBrowser(options = {}) {
  const ctx = { stack: null, ui: null };
  before(async () => {
    ctx.stack = await startStack(options);
    ctx.ui = await openBrowser();
  });
  after(async () => {
    if (ctx.ui) await ctx.ui.close();
    if (ctx.stack) await ctx.stack.stop();
  });
  return ctx;
}
