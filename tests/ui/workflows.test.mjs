// The workflows page as a user drives it: start a candle flow from the form, watch it
// finish live, open its chart and count what it drew; stop a long flow from its row.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStackAndBrowser, screenshot, until } from './harness.mjs';


const ctx = useStackAndBrowser();

test('a candle flow started from the form finishes live and its chart draws every stored candle', async () => {
  const { page } = ctx.ui;
  await page.goto(ctx.stack.url + '/');
  await page.locator('#start-panel summary').click();
  // The form is built from /openapi.json's test flows.
  await page.locator('#start-flow option[value="historical_candles"]').waitFor({ state: 'attached' });
  await page.selectOption('#start-flow', 'historical_candles');
  await page.fill('#start-symbol', 'ETHUSDT');
  await page.fill('#start-time-range', '2024-08-01:2024-08-02');
  await screenshot(page, 'start-form');
  await page.click('#start-submit');

  // The row appears and reaches `finished` over the WebSocket: no reload in between.
  const row = page.locator('#queues tbody tr[data-queue-id^="wf-ethusdt-api_candles_1m"]');
  await row.waitFor({ timeout: 30_000 });
  const queueId = await row.getAttribute('data-queue-id');
  try {
    await page.locator(`#queues tbody tr[data-queue-id="${queueId}"][data-status="finished"]`)
      .waitFor({ timeout: 120_000 });
  } catch (e) {
    // What the page and the manager said, for the failure's report.
    const api = await ctx.stack.api(`/queues/${queueId}`);
    const shown = await row.getAttribute('data-status').catch(() => 'no row');
    const feed = await page.locator('#feed-status').getAttribute('data-state').catch(() => '?');
    throw new Error(`${e.message}\nthe page shows ${shown} (feed ${feed}); the API says ` +
      `${api.json?.status}: ${api.json?.message}\nmanager log: ${ctx.stack.upLog()}`);
  }
  const q = await ctx.stack.api(`/queues/${queueId}`);
  assert.equal(q.json.status, 'finished');
  assert.equal(q.json.completeness.complete, true);
  await screenshot(page, 'workflows');

  // Its own page: the targets finished.
  await page.goto(`${ctx.stack.url}/#/queue/${queueId}`);
  await page.locator('#queue-targets').waitFor();
  await until(async () => (await page.locator('#queue-targets [data-status="finished"]').count()) >= 2,
    'both targets finished on the workflow page', 30_000);
  await screenshot(page, 'workflow');

  // The chart of its collection draws what the store holds.
  const cols = await ctx.stack.api('/data/collections');
  const col = cols.json.collections.find((c) => c.name === 'ethusdt_candles_1m');
  assert.ok(col, 'the flow wrote ethusdt_candles_1m');
  assert.equal(col.records, 1440);
  await page.goto(`${ctx.stack.url}/#/data/ethusdt_candles_1m`);
  const chart = page.locator('#chart[data-loading="false"]');
  await chart.waitFor({ timeout: 30_000 });
  assert.equal(Number(await chart.getAttribute('data-candles')), col.records);
  await screenshot(page, 'candles');

  await page.goto(`${ctx.stack.url}/#/data`);
  await page.locator(`text=ethusdt_candles_1m`).first().waitFor();
  await screenshot(page, 'data');
  assert.deepEqual(ctx.ui.errors, [], 'no script errors on the page');
});

// The start's answer can reach the page after the feed said the queue finished (a short flow
// on a busy machine): the row must stay finished. The answer is held back here until then.
test('a start answer that arrives after the feed said finished leaves the row finished', async () => {
  const { page } = ctx.ui;
  await page.goto(ctx.stack.url + '/');
  let answered = null;
  await page.route('**/queues/start-test-flow', async (route) => {
    const response = await route.fetch();
    const q = await response.json();
    await until(async () => (await page.locator(
      `#queues tbody tr[data-queue-id="${q.queue_id}"][data-status="finished"]`).count()) > 0,
    'the feed to show the queue finished before its start answer', 60_000, 100);
    answered = q;
    await route.fulfill({ response });
  });
  await page.locator('#start-panel summary').click();
  await page.locator('#start-flow option[value="historical_candles"]').waitFor({ state: 'attached' });
  await page.selectOption('#start-flow', 'historical_candles');
  await page.fill('#start-symbol', 'ETHUSDT');
  await page.fill('#start-time-range', '2024-08-03:2024-08-04');
  await page.click('#start-submit');
  // The page has taken the answer once it links the queue it started.
  await until(() => answered, 'the start answer', 90_000, 100);
  const link = page.locator(`a[data-queue-id="${answered.queue_id}"]`);
  await link.waitFor({ timeout: 30_000 });
  assert.notEqual(answered.status, 'finished', 'the held answer is older than the end');
  await new Promise((r) => setTimeout(r, 500)); // a frame or two for the row to be drawn
  const row = page.locator(`#queues tbody tr[data-queue-id="${answered.queue_id}"]`);
  assert.equal(await row.getAttribute('data-status'), 'finished');
  await page.unroute('**/queues/start-test-flow');
  assert.deepEqual(ctx.ui.errors, [], 'no script errors on the page');
});

test('a long flow stopped from its row ends interrupted', async () => {
  const { page } = ctx.ui;
  const id = await ctx.stack.startTestFlow({
    flow_name: 'dummy_single', symbol: 'BTCUSDT', time_range: '2024-08-01:2024-08-02',
    extra_params: { duration_s: 600 },
  });
  await page.goto(ctx.stack.url + '/');
  const row = page.locator(`#queues tbody tr[data-queue-id="${id}"]`);
  await row.locator('button[data-action="stop"]:not([disabled])').waitFor({ timeout: 30_000 });
  await row.locator('button[data-action="stop"]').click();
  await page.locator(`#queues tbody tr[data-queue-id="${id}"][data-status="interrupted"]`)
    .waitFor({ timeout: 30_000 });
  const q = await ctx.stack.api(`/queues/${id}`);
  assert.equal(q.json.status, 'interrupted');
  assert.deepEqual(ctx.ui.errors, [], 'no script errors on the page');
});
