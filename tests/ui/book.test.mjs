// A live order book (the live_orderbook flow against the simulator's WebSocket streams):
// the book page draws its top levels and depth and keeps moving as diffs arrive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStackAndBrowser, screenshot, until } from './harness.mjs';


const ctx = useStackAndBrowser();

test('the live order book moves on the page', async () => {
  // Live: a range around now (today and tomorrow, UTC); stopped at the end.
  const day = (d) => d.toISOString().slice(0, 10);
  const now = new Date();
  const range = `${day(now)}:${day(new Date(now.getTime() + 86_400_000))}`;
  const id = await ctx.stack.startTestFlow({
    flow_name: 'live_orderbook', symbol: 'BTCUSDT', time_range: range,
  });
  await until(async () => {
    const c = (await ctx.stack.api('/data/collections')).json.collections;
    const snaps = c.find((x) => x.name === 'btcusdt_book_snapshots');
    const diffs = c.find((x) => x.name === 'btcusdt_book_diffs');
    return snaps && snaps.records > 0 && diffs && diffs.records > 0;
  }, 'the first book snapshot and diffs to be stored', 60_000, 500);

  const { page } = ctx.ui;
  await page.goto(`${ctx.stack.url}/#/data/btcusdt_book_diffs`);
  const book = page.locator('#book[data-update-id]:not([data-update-id=""])');
  await book.waitFor({ timeout: 30_000 });
  const first = Number(await book.getAttribute('data-update-id'));
  assert.ok(Number(await book.getAttribute('data-bids')) > 0, 'bid levels drawn');
  assert.ok(Number(await book.getAttribute('data-asks')) > 0, 'ask levels drawn');
  const depth = page.locator('#depth-chart');
  assert.ok(Number(await depth.getAttribute('data-bids')) > 0, 'bid depth drawn');
  // The page follows the stream: a later update id within a few refreshes.
  const later = await until(async () => {
    const u = Number(await book.getAttribute('data-update-id'));
    return u > first ? u : 0;
  }, 'the book on the page to move', 20_000, 250);
  assert.ok(later > first);
  await screenshot(page, 'book');

  const stop = await ctx.stack.api('/queues/stop', { method: 'POST', body: { queue_id: id } });
  assert.equal(stop.status, 200, stop.text);
  assert.deepEqual(ctx.ui.errors, [], 'no script errors on the page');
});
