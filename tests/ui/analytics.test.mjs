// Graphs and models as a user sees them after the correlation_gnn flow (docs/analytics.md):
// the graph page draws the stored nodes and edges of each snapshot the slider picks, and the
// model page draws the training curves of every epoch against the baselines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStackAndBrowser, screenshot, until } from './harness.mjs';


const ctx = useStackAndBrowser({ simArgs: ['--symbols', 'DOGEUSDT,ADAUSDT,LTCUSDT,DOTUSDT,LINKUSDT'] });

test('the graph page shows the stored snapshots and the model page its training curves', async () => {
  // Two weeks of 1h candles of 10 symbols, a short training.
  const id = await ctx.stack.startTestFlow({
    flow_name: 'correlation_gnn', symbol: 'BTCUSDT', time_range: '2024-08-01:2024-08-15',
    extra_params: { epochs: 15, patience: 0 },
  });
  const q = await until(async () => {
    const r = await ctx.stack.api(`/queues/${id}`);
    return ['finished', 'error', 'interrupted'].includes(r.json.status) ? r.json : null;
  }, `queue ${id} to end`, 300_000, 1000);
  assert.equal(q.status, 'finished', q.message);

  const graphs = await ctx.stack.api('/data/graphs');
  assert.equal(graphs.json.graphs.length, 1);
  const graph = graphs.json.graphs[0];
  const snaps = (await ctx.stack.api(`/data/graphs/${graph.name}/snapshots`)).json.snapshots;
  assert.equal(snaps.length, graph.snapshots);

  const { page } = ctx.ui;
  await page.goto(`${ctx.stack.url}/#/graphs`);
  await page.locator(`[data-graph="${graph.name}"]`).first().waitFor({ timeout: 15_000 });
  await page.goto(`${ctx.stack.url}/#/graphs/${graph.name}`);
  const canvas = page.locator('#graph[data-loading="false"]');
  await canvas.waitFor({ timeout: 30_000 });
  // Whatever snapshot it shows first, its counts are the store's; then the next ones.
  for (let step = 0; step < 3; step++) {
    const start = Number(await canvas.getAttribute('data-window-start'));
    const snap = snaps.find((s) => s.window_start === start);
    assert.ok(snap, `the page shows a stored snapshot (window_start ${start})`);
    const stored = (await ctx.stack.api(`/data/graphs/${graph.name}/snapshot?window_start=${start}`)).json;
    assert.equal(Number(await canvas.getAttribute('data-nodes')), stored.nodes.length);
    assert.equal(Number(await canvas.getAttribute('data-edges')), stored.edges.length);
    if (step === 0) await screenshot(page, 'graph');
    const prev = start;
    await page.click(start === snaps[snaps.length - 1].window_start ? '#snapshot-prev' : '#snapshot-next');
    await until(async () => Number(await canvas.getAttribute('data-window-start')) !== prev,
      'the slider to move to another snapshot', 15_000, 100);
  }

  // The model: every epoch drawn, the baselines beside it.
  const metrics = (await ctx.stack.api(`/models/${id}/metrics`)).json;
  await page.goto(`${ctx.stack.url}/#/models/${id}`);
  const model = page.locator(`#model[data-queue-id="${id}"][data-epochs]`);
  await model.waitFor({ timeout: 15_000 });
  assert.equal(Number(await model.getAttribute('data-epochs')), metrics.epochs.length);
  const lines = await page.locator('.chart-box[data-lines]').evaluateAll(
    (els) => els.map((e) => Number(e.getAttribute('data-lines'))));
  assert.ok(lines.length >= 2 && lines.every((n) => n >= 2), `curves drawn: ${lines}`);
  await screenshot(page, 'model');
  assert.deepEqual(ctx.ui.errors, [], 'no script errors on the page');
});
