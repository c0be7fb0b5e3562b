// A manager started with --token: the page refuses to work until the token is entered, a
// wrong one is refused, and the right one opens the API and the live feed for the tab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStackAndBrowser, screenshot } from './harness.mjs';

const TOKEN = 'ui-test-' + Math.random().toString(36).slice(2);

const ctx = useStackAndBrowser({ token: TOKEN });

test('the page asks for the token and works only once the right one is entered', async () => {
  const id = await ctx.stack.startTestFlow({
    flow_name: 'dummy_single', symbol: 'BTCUSDT', time_range: '2024-08-01:2024-08-02',
    extra_params: { duration_s: 1 },
  });

  const { page } = ctx.ui;
  await page.goto(ctx.stack.url + '/');
  // Without a token: the prompt, and no workflow listed.
  await page.locator('#token-input').waitFor({ state: 'visible', timeout: 15_000 });
  assert.equal(await page.locator('#queues tbody tr[data-queue-id]').count(), 0);
  await screenshot(page, 'token');

  await page.fill('#token-input', TOKEN + 'x');
  await page.click('#token-submit');
  await page.locator('#token-error:not(:empty)').waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('#queues tbody tr[data-queue-id]').count(), 0);

  await page.fill('#token-input', TOKEN);
  await page.click('#token-submit');
  await page.locator(`#queues tbody tr[data-queue-id="${id}"]`).waitFor({ timeout: 15_000 });
  // The live feed connects with the token too (the page shows it as live).
  await page.locator('#feed-status[data-state="open"]').waitFor({ timeout: 15_000 });
  // A queue started now reaches the page over the WebSocket.
  const secondId = await ctx.stack.startTestFlow({
    flow_name: 'dummy_single', symbol: 'ETHUSDT', time_range: '2024-08-01:2024-08-02',
    extra_params: { duration_s: 1 },
  });
  await page.locator(`#queues tbody tr[data-queue-id="${secondId}"][data-status="finished"]`)
    .waitFor({ timeout: 30_000 });

  // Kept for the tab: a reload needs no prompt.
  await page.reload();
  await page.locator(`#queues tbody tr[data-queue-id="${id}"]`).waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('#token-modal').isVisible(), false);
  assert.deepEqual(ctx.ui.errors, [], 'no script errors on the page');
});
