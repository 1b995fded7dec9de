// The dashboard in a real Chromium (playwright-core, LLMWIRE_CHROMIUM or /usr/bin/chromium): the page loads with
// nothing fetched from elsewhere, lists the running workers, its numbers move as requests are
// served, names from outside are shown as text, and the feed's timer stops with the last client.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { waitUntil } from '../llm/process-stack.js';
import { startStack } from '../llm/stack.js';
import { CHROMIUM_PATH, NEEDS, skipUnless } from '../helpers/requires.js';

const messages = [{ role: 'user' as const, content: 'Make the dashboard move.' }];
const ODD_MODEL = '<img src=x onerror="window.injected=1">';

async function launch(): Promise<Browser & AsyncDisposable> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--no-sandbox'],
  });
  return Object.assign(browser, { [Symbol.asyncDispose]: () => browser.close() });
}

const needsChromium = await skipUnless('dashboard', NEEDS.chromium);

describe('dashboard', needsChromium, () => {
  test('shows live workers, moving numbers and latency charts', { timeout: 60_000 }, async () => {
    await using stack = await startStack({
      workers: 2,
      sim: (i) => ({ ttftMs: 5, itlMs: 3, models: i === 0 ? ['sim', ODD_MODEL] : ['sim'] }),
      gateway: { metrics: true },
    });
    const root = await fetch(`${stack.url}/`, { redirect: 'manual' });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/dashboard');

    await using browser = await launch();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const outside: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(stack.url)) outside.push(r.url());
    });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${stack.url}/dashboard`);
    await page.locator('#status', { hasText: /^live$/ }).waitFor();
    await page.locator('#workers td', { hasText: /^w1$/ }).waitFor();
    await page.locator('#workers td', { hasText: /^w2$/ }).waitFor();
    assert.equal(await page.textContent('#requests'), '0');
    assert.equal(stack.gateway.dashboard!.connected, 1);

    // Load in rounds until a second's latency reaches the charts (bounded: 40 rounds).
    const client = stack.client();
    let sent = 0;
    for (let round = 0; round < 40; round++) {
      await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const stream = await client.chat.completions.create({
            model: 'sim',
            messages,
            max_tokens: 24,
            seed: round * 10 + i,
            stream: true,
          });
          for await (const _ of stream);
        }),
      );
      sent += 10;
      const drawn = await page.$('#itl path[data-series="p50"]');
      if (drawn !== null && round >= 2) break;
    }
    await page.locator('#requests', { hasText: new RegExp(`^${sent}$`) }).waitFor();
    // The p99 series is drawn: a path with at least one point. (Waiting for it to be visible
    // would depend on timing: a line of one point, all samples in one second, has no extent.)
    const p99 = await page.waitForSelector('#ttft path[data-series="p99"]', { state: 'attached' });
    assert.match((await p99.getAttribute('d')) ?? '', /^M\d/);
    const tokens = await page.$$eval('#workers tr', (rows) =>
      rows.slice(1).map((r) => Number((r.children[5]?.textContent ?? '0').replace(/\D/g, ''))),
    );
    assert.equal(tokens.length, 2);
    assert.ok(
      tokens.every((n) => n > 0),
      `both workers streamed tokens: ${tokens.join(', ')}`,
    );

    // Each model with the APIs that serve it.
    const apis = await page.$$eval('#models tr', (rows) =>
      rows.slice(1).map((r) => [r.children[0]?.textContent, r.children[1]?.textContent]),
    );
    assert.deepEqual(
      apis.find(([m]) => m === 'sim'),
      ['sim', 'chat.completions, completions, responses, messages, embeddings'],
    );

    // A model name with markup is shown as text, never parsed as HTML.
    const workersText = (await page.textContent('#workers')) ?? '';
    assert.ok(workersText.includes(ODD_MODEL), 'the odd model name appears as text');
    assert.equal(await page.$('#workers img'), null);
    const injected = await page.evaluate(
      () => typeof (globalThis as { injected?: unknown }).injected,
    );
    assert.equal(injected, 'undefined');

    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/dashboard.png', fullPage: true });
    assert.deepEqual(outside, [], 'the page fetched nothing from elsewhere');
    assert.deepEqual(pageErrors, []);

    await page.close();
    await waitUntil(
      () => !stack.gateway.dashboard!.running,
      'the snapshot timer to stop with the last client',
    );
    assert.equal(stack.gateway.dashboard!.connected, 0);
  });

  test(
    'recent errors list the code and model of failed requests',
    { timeout: 30_000 },
    async () => {
      await using stack = await startStack({ workers: 1, gateway: { metrics: true } });
      await using browser = await launch();
      const page = await browser.newPage();
      await page.goto(`${stack.url}/dashboard`);
      await page.locator('#status', { hasText: /^live$/ }).waitFor();
      const res = await fetch(`${stack.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'no-such-model', messages }),
      });
      assert.equal(res.status, 404);
      await page.locator('#recent td', { hasText: /^not_found$/ }).waitFor();
      const row = await page.$$eval('#recent tr', (rows) =>
        rows.slice(1).map((r) => [...r.children].map((c) => c.textContent)),
      );
      assert.equal(row.length, 1);
      assert.deepEqual(row[0]!.slice(1), ['not_found', 'chat', 'unknown', 'default']);
    },
  );
});
