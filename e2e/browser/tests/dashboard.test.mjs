// The dashboard in real Chromium: against the real server (a fresh one has no runs), then with
// run statistics and failures from fixtures shaped like RunStats / Page<RunView>.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';

import { repoRoot, startServer } from '../lib/server.mjs';

const ADMIN_PASSWORD = 'e2e-admin-password-0123';
const OUTPUT_DIR = path.join(repoRoot, 'e2e/browser/output');
const DESKTOP = { width: 1280, height: 800 };
const MOBILE = { width: 375, height: 740 };
const WAIT = { timeout: 15_000 };
const FAILED_ID = '11111111-1111-4111-8111-111111111111';

let server;
let browser;
let page;
const pageErrors = [];
const cspViolations = [];

async function screenshotBothSizes(name) {
  await page.screenshot({ path: path.join(OUTPUT_DIR, `${name}-desktop.png`), fullPage: true });
  await page.setViewportSize(MOBILE);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await page.screenshot({ path: path.join(OUTPUT_DIR, `${name}-375.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
  assert.ok(overflow <= 0, `${name} scrolls sideways at 375 px (by ${overflow} px)`);
}

function json(body) {
  return { status: 200, contentType: 'application/json', body: JSON.stringify(body) };
}

describe('dashboard', { timeout: 120_000 }, () => {
  before(async () => {
    await mkdir(OUTPUT_DIR, { recursive: true });
    server = await startServer({ adminPassword: ADMIN_PASSWORD });
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: DESKTOP });
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (/Content.Security.Policy/i.test(message.text())) cspViolations.push(message.text());
    });
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('current-user').waitFor(WAIT);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a fresh server: zero counts, 14 empty days, no failures', async () => {
    await page.getByTestId('runs-chart').waitFor(WAIT);
    assert.equal((await page.getByTestId('running-count').textContent()).trim(), '0running now');
    assert.equal((await page.getByTestId('late-count').textContent()).trim(), '0late');
    assert.equal(await page.locator('[data-testid="runs-chart"] tbody tr').count(), 14);
    assert.equal(await page.locator('[data-testid="runs-chart"] rect').count(), 0);
    await page.getByTestId('no-failures').waitFor(WAIT);
  });

  test('runs per day as stacked bars, counts and recent failures', async () => {
    const days = Array.from({ length: 14 }, (_, i) => {
      const date = new Date(Date.UTC(2026, 10, 13 + i)).toISOString().slice(0, 10);
      const counts = i % 3 === 0 ? {} : { COMPLETED: 3 + (i % 4), FAILED: i % 2, RUNNING: i === 13 ? 1 : 0 };
      for (const k of Object.keys(counts)) if (counts[k] === 0) delete counts[k];
      return { date, counts };
    });
    let statsAsked = '';
    let failuresAsked = '';
    await page.route(/\/api\/v1\/runs(\/stats)?\?/, async (route) => {
      const url = new URL(route.request().url());
      if (url.pathname.endsWith('/stats')) {
        statsAsked = url.search;
        return route.fulfill(json({ days, running: 1, late: 2 }));
      }
      failuresAsked = url.search;
      return route.fulfill(json({ items: [{
        id: FAILED_ID, deployment_id: null, deployment_name: 'weekly malaria', flow_name: 'dhis2-chap-prediction',
        parameters: {}, state: 'FAILED', state_message: 'chap answered 500', state_at: '2026-11-26T10:05:00Z', late: false,
        expected_start_at: '2026-11-26T10:00:00Z', started_at: '2026-11-26T10:00:02Z', ended_at: '2026-11-26T10:05:00Z',
        attempt: 3, max_attempts: 3, triggered_by: 'schedule:x', schedule_id: null, retry_of: null, summary: null,
        created_at: '2026-11-26T10:00:00Z',
      }] }));
    });
    await page.reload();
    await page.locator('[data-testid="runs-chart"] rect').first().waitFor(WAIT);
    assert.equal(statsAsked, '?days=14');
    assert.match(failuresAsked, /state=FAILED%2CCRASHED/);
    assert.equal((await page.getByTestId('running-count').textContent()).trim(), '1running now');
    assert.equal((await page.getByTestId('late-count').textContent()).trim(), '2late');
    const expectedSegments = days.reduce((n, d) => n + Object.keys(d.counts).length, 0);
    assert.equal(await page.locator('[data-testid="runs-chart"] rect').count(), expectedSegments);
    await page.locator(`tr[data-run-id="${FAILED_ID}"]`).waitFor(WAIT);
    await screenshotBothSizes('dashboard-runs');
    await page.unrouteAll({ behavior: 'ignoreErrors' });
  });

  test('no page errors and no CSP violations', () => {
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(cspViolations, []);
  });
});
