// The run pages in real Chromium against the real server and the real SPA.
// This branch's production registry has no flows, so the server itself has no runs: the empty list, the
// filters' requests and "run not found" go to the real server; the populated list and run detail answer
// from fixtures (Playwright `route`) shaped like the API's RunView / RunDetail / LogPage / ArtifactView.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';

import { repoRoot, startServer } from '../lib/server.mjs';

const ADMIN_PASSWORD = 'e2e-admin-password-0123';
const VIEWER_PASSWORD = 'e2e-viewer-password-0123';
const OUTPUT_DIR = path.join(repoRoot, 'e2e/browser/output');
const DESKTOP = { width: 1280, height: 800 };
const MOBILE = { width: 375, height: 740 };
const WAIT = { timeout: 15_000 };

const FAILED_ID = '11111111-1111-4111-8111-111111111111';
const LATE_ID = '22222222-2222-4222-8222-222222222222';
const OLD_ID = '33333333-3333-4333-8333-333333333333';
const RETRY_ID = '44444444-4444-4444-8444-444444444444';
const DEPLOYMENT_ID = '55555555-5555-4555-8555-555555555555';

let server;
let browser;
let page;
const pageErrors = [];
const cspViolations = [];
const consoleLines = [];

function run(id, overrides = {}) {
  return {
    id,
    deployment_id: DEPLOYMENT_ID,
    deployment_name: 'weekly malaria',
    flow_name: 'dhis2-chap-prediction',
    parameters: { credentials: 'c0ffee00-0000-4000-8000-000000000000', model: 'naive', end_mode: 'offset' },
    state: 'COMPLETED',
    state_message: null,
    state_at: '2026-11-26T10:05:00Z',
    late: false,
    expected_start_at: '2026-11-26T10:00:00Z',
    started_at: '2026-11-26T10:00:02Z',
    ended_at: '2026-11-26T10:05:00Z',
    attempt: 1,
    max_attempts: 3,
    triggered_by: 'user:admin',
    schedule_id: null,
    retry_of: null,
    summary: null,
    created_at: '2026-11-26T10:00:00Z',
    ...overrides,
  };
}

const FAILED_RUN = run(FAILED_ID, {
  state: 'FAILED',
  state_message: 'setup "district" failed: chap answered 500',
  attempt: 3,
  created_at: '2026-11-26T11:00:00Z',
});
const LATE_RUN = run(LATE_ID, {
  state: 'SCHEDULED',
  late: true,
  started_at: null,
  ended_at: null,
  created_at: '2026-11-26T12:00:00Z',
});
const OLD_RUN = run(OLD_ID, { deployment_name: 'monthly dengue', created_at: '2026-11-20T10:00:00Z' });

const FAILED_DETAIL = {
  ...FAILED_RUN,
  history: [
    { state: 'PENDING', message: null, at: '2026-11-26T10:00:00Z' },
    { state: 'RUNNING', message: null, at: '2026-11-26T10:00:02Z' },
    { state: 'FAILED', message: FAILED_RUN.state_message, at: '2026-11-26T10:05:00Z' },
  ],
  task_runs: [
    {
      id: '66666666-6666-4666-8666-666666666666',
      position: 0,
      name: 'fetch-data',
      label: 'district',
      state: 'COMPLETED',
      attempts: 1,
      started_at: '2026-11-26T10:00:02Z',
      ended_at: '2026-11-26T10:00:14Z',
      duration_seconds: 12.4,
      error: null,
    },
    {
      id: '77777777-7777-4777-8777-777777777777',
      position: 1,
      name: 'predict',
      label: 'district',
      state: 'FAILED',
      attempts: 2,
      started_at: '2026-11-26T10:00:14Z',
      ended_at: '2026-11-26T10:05:00Z',
      duration_seconds: 286,
      error: 'chap answered 500: model crashed',
    },
  ],
};

const REPORT = [
  '# Prediction report',
  '',
  '| setup | outcome |',
  '|---|---|',
  '| district | failed |',
  '',
  'Raw <script>window.__pwned = true</script> and <img src=x onerror="window.__pwned = true">',
  '',
  '[bad link](javascript:window.__pwned=true) and [docs](https://example.org/docs)',
].join('\n');

function json(body, status = 200) {
  return { status, contentType: 'application/json', body: JSON.stringify(body) };
}

async function screenshot(name) {
  await page.screenshot({ path: path.join(OUTPUT_DIR, `${name}.png`), fullPage: true });
}

async function screenshotBothSizes(name) {
  await screenshot(`${name}-desktop`);
  await page.setViewportSize(MOBILE);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await screenshot(`${name}-375`);
  await page.setViewportSize(DESKTOP);
  assert.ok(overflow <= 0, `${name} scrolls sideways at 375 px (by ${overflow} px)`);
}

async function newPage() {
  const context = await browser.newContext({ viewport: DESKTOP });
  const p = await context.newPage();
  p.on('pageerror', (error) => pageErrors.push(error.message));
  p.on('console', (message) => {
    consoleLines.push(`[${message.type()}] ${message.text()}`);
    if (/Content.Security.Policy/i.test(message.text())) cspViolations.push(message.text());
  });
  return p;
}

async function logIn(p, username, password) {
  await p.goto(`${server.url}/login`);
  await p.getByLabel('Username').fill(username);
  await p.getByLabel('Password').fill(password);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByTestId('current-user').waitFor(WAIT);
}

/** Answers the run API from fixtures; returns the requests seen. */
async function mockRunApi(p) {
  const seen = [];
  let logCalls = 0;
  await p.route(/\/api\/v1\/runs(\/|\?|$)/, async (route) => {
    const request = route.request();
    const url = new URL(request.url());
    seen.push(`${request.method()} ${url.pathname}${url.search}`);
    const rest = url.pathname.replace(/^\/api\/v1\/runs\/?/, '');
    if (rest === '') {
      if (url.searchParams.get('cursor') === 'page-2') return route.fulfill(json({ items: [OLD_RUN] }));
      return route.fulfill(json({ items: [LATE_RUN, FAILED_RUN], next_cursor: 'page-2' }));
    }
    const [id, sub, action] = rest.split('/');
    if (id === FAILED_ID && !sub) return route.fulfill(json(FAILED_DETAIL));
    if (id === RETRY_ID && !sub) {
      return route.fulfill(json({ ...FAILED_DETAIL, ...run(RETRY_ID, { state: 'PENDING', retry_of: FAILED_ID, started_at: null, ended_at: null }), history: [], task_runs: [] }));
    }
    if (sub === 'logs') {
      logCalls += 1;
      const after = url.searchParams.get('after');
      const level = url.searchParams.get('level');
      if (level === 'error') {
        return route.fulfill(json({ items: after ? [] : [{ id: 3, at: '2026-11-26T10:05:00Z', level: 'error', message: 'predict failed', task_run_id: null }], next_after: 3 }));
      }
      if (!after) {
        return route.fulfill(
          json({
            items: [
              { id: 1, at: '2026-11-26T10:00:02Z', level: 'info', message: 'fetching data for district', task_run_id: null },
              { id: 2, at: '2026-11-26T10:00:14Z', level: 'info', message: '<b>not bold</b> fetched 52 weeks', task_run_id: null },
            ],
            next_after: 2,
          }),
        );
      }
      if (after === '2' && logCalls >= 2) {
        return route.fulfill(json({ items: [{ id: 3, at: '2026-11-26T10:05:00Z', level: 'error', message: 'predict failed', task_run_id: null }], next_after: 3 }));
      }
      return route.fulfill(json({ items: [], next_after: Number(after) }));
    }
    if (sub === 'artifacts') {
      return route.fulfill(json(id === FAILED_ID ? [{ id: '88888888-8888-4888-8888-888888888888', key: 'run-report', kind: 'markdown', content: REPORT, created_at: '2026-11-26T10:05:00Z' }] : []));
    }
    if (request.method() === 'POST' && action === undefined && sub === 'retry') {
      return route.fulfill(json(run(RETRY_ID, { state: 'PENDING', retry_of: FAILED_ID }), 201));
    }
    return route.continue();
  });
  return seen;
}

describe('run pages', { timeout: 180_000 }, () => {
  before(async () => {
    await mkdir(OUTPUT_DIR, { recursive: true });
    server = await startServer({ adminPassword: ADMIN_PASSWORD });
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await newPage();
    await logIn(page, 'admin', ADMIN_PASSWORD);
  });

  after(async () => {
    await writeFile(path.join(OUTPUT_DIR, 'runs-console.log'), consoleLines.join('\n') + '\n');
    await browser?.close();
    await server?.stop();
  });

  test('the run list of a fresh server is empty and its filters ask the server', async () => {
    const requests = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/api/v1/runs') requests.push(new URL(r.url()).search);
    });
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Runs', exact: true }).click();
    await page.getByTestId('runs-empty').waitFor(WAIT);
    assert.equal(await page.title(), 'Runs · chap-scheduler');
    await page.getByLabel('State').selectOption('FAILED');
    await page.waitForURL((url) => url.pathname === '/runs', WAIT);
    await page.getByTestId('runs-empty').waitFor(WAIT);
    assert.ok(
      requests.some((q) => q.includes('state=FAILED')),
      `no request with state=FAILED among ${requests.join(' ')}`,
    );
    assert.ok(await page.getByLabel('Deployment').isVisible());
    await screenshotBothSizes('runs-empty');
  });

  test('runs show state badges, the late marker, load more and refresh every 5 s', async () => {
    const seen = await mockRunApi(page);
    await page.goto(`${server.url}/runs`);
    const table = page.getByTestId('runs-table');
    await table.waitFor(WAIT);
    const failedRow = table.locator(`tr[data-run-id="${FAILED_ID}"]`);
    assert.equal(await failedRow.locator('.state-badge').textContent(), 'Failed');
    const lateRow = table.locator(`tr[data-run-id="${LATE_ID}"]`);
    assert.equal(await lateRow.locator('.late-marker').textContent(), 'Late');
    assert.equal(await failedRow.locator('.late-marker').count(), 0);

    await page.getByRole('button', { name: 'Load more' }).click();
    await table.locator(`tr[data-run-id="${OLD_ID}"]`).waitFor(WAIT);
    assert.equal(await page.getByRole('button', { name: 'Load more' }).count(), 0);
    assert.ok(seen.some((s) => s.includes('cursor=page-2')));
    await screenshotBothSizes('runs-list');

    const before = seen.filter((s) => s.startsWith('GET /api/v1/runs?')).length;
    await page.waitForTimeout(5600);
    const afterRefresh = seen.filter((s) => s.startsWith('GET /api/v1/runs?')).length;
    assert.ok(afterRefresh > before, 'the list did not refresh within 5.6 s');
    // The refresh keeps the page loaded with "Load more".
    assert.equal(await table.locator(`tr[data-run-id="${OLD_ID}"]`).count(), 1);
  });

  test('run detail: state, message, steps, parameters, history, log tail, safe report', async () => {
    await page.locator(`tr[data-run-id="${FAILED_ID}"] a`).click();
    await page.waitForURL((url) => url.pathname === `/runs/${FAILED_ID}`, WAIT);
    await page.getByTestId('state-message').waitFor(WAIT);
    assert.match(await page.getByTestId('state-message').textContent(), /chap answered 500/);
    const steps = page.getByTestId('steps');
    assert.match(await steps.textContent(), /fetch-data/);
    assert.match(await steps.textContent(), /12\.4\u00a0s/);
    assert.match(await steps.locator('.step-error').textContent(), /model crashed/);
    assert.match(await page.getByTestId('run-parameters').textContent(), /"model": "naive"/);
    assert.equal(await page.getByTestId('history').locator('li').count(), 3);

    const logs = page.getByTestId('log-lines');
    await logs.getByText('fetching data for district').waitFor(WAIT);
    // A log line is text, never markup.
    await logs.getByText('<b>not bold</b> fetched 52 weeks').waitFor(WAIT);
    // Polling brings the next line without a reload.
    await logs.getByText('predict failed').waitFor(WAIT);
    assert.equal(await page.getByLabel('Follow').isChecked(), true);

    const report = page.getByTestId('report');
    await report.locator('h1', { hasText: 'Prediction report' }).waitFor(WAIT);
    assert.equal(await report.locator('td', { hasText: 'district' }).count(), 1);
    assert.equal(await report.locator('script, img').count(), 0);
    assert.match(await report.textContent(), /<script>window.__pwned = true<\/script>/);
    assert.equal(await report.getByRole('link', { name: 'docs' }).getAttribute('href'), 'https://example.org/docs');
    assert.equal((await report.getByRole('link', { name: 'bad link' }).getAttribute('href')) ?? '', '');
    assert.equal(await page.evaluate(() => window.__pwned ?? false), false);
    await screenshotBothSizes('run-detail');
  });

  test('the level filter asks again from the start at the chosen level', async () => {
    const logs = page.getByTestId('log-lines');
    const asked = page.waitForRequest((r) => /\/logs\?(.*&)?level=error/.test(r.url()), WAIT);
    await page.getByLabel('Lowest level').selectOption('error');
    await asked;
    await logs.getByText('predict failed').waitFor(WAIT);
    assert.equal(await logs.getByText('fetching data for district').count(), 0);
  });

  test('admins can retry a failed run and land on the new run', async () => {
    assert.equal(await page.getByRole('button', { name: 'Cancel run' }).count(), 0, 'a failed run cannot be cancelled');
    await page.getByRole('button', { name: 'Retry' }).click();
    await page.waitForURL((url) => url.pathname === `/runs/${RETRY_ID}`, WAIT);
    await page.getByRole('link', { name: FAILED_ID }).waitFor(WAIT);
    // The new run is unfinished: it can be cancelled, not retried.
    await page.getByRole('button', { name: 'Cancel run' }).waitFor(WAIT);
    assert.equal(await page.getByRole('button', { name: 'Retry' }).count(), 0);
  });

  test('a viewer sees the run but no cancel or retry button', async () => {
    const login = await fetch(`${server.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
    });
    const token = (await login.json()).access_token;
    const created = await fetch(`${server.url}/api/v1/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ username: 'viewer', password: VIEWER_PASSWORD, role: 'viewer' }),
    });
    assert.equal(created.status, 201, await created.text());

    const viewerPage = await newPage();
    await logIn(viewerPage, 'viewer', VIEWER_PASSWORD);
    await mockRunApi(viewerPage);
    for (const id of [FAILED_ID, RETRY_ID]) {
      await viewerPage.goto(`${server.url}/runs/${id}`);
      await viewerPage.getByRole('heading', { name: 'State history' }).waitFor(WAIT);
      assert.equal(await viewerPage.getByRole('button', { name: 'Retry' }).count(), 0);
      assert.equal(await viewerPage.getByRole('button', { name: 'Cancel run' }).count(), 0);
    }
    await viewerPage.context().close();
  });

  test('an unknown run says so', async () => {
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    await page.goto(`${server.url}/runs/99999999-9999-4999-8999-999999999999`);
    await page.getByRole('heading', { name: 'Run not found' }).waitFor(WAIT);
    await page.goto(`${server.url}/runs/not-a-uuid`);
    await page.getByRole('heading', { name: 'Run not found' }).waitFor(WAIT);
  });

  test('no page errors and no CSP violations', () => {
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(cspViolations, []);
  });
});
