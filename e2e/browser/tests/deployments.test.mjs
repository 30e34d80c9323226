// The deployment pages and the run form in real Chromium against the real server and the real SPA.
// This branch registers no flows in production, so the real server has no deployments: the empty list
// comes from it; deployments, the flow's schema, blocks and the trigger answer from fixtures
// (Playwright `route`) shaped like DeploymentView / FlowView / Page<BlockView> / ErrorBody.
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

const DEPLOYMENT_ID = '55555555-5555-4555-8555-555555555555';
const PAUSED_ID = '56565656-5656-4565-8565-565656565656';
const BLOCK_ID = 'b10cb10c-0000-4000-8000-000000000001';
const NEW_RUN_ID = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';

let server;
let browser;
let page;
const pageErrors = [];
const cspViolations = [];

function deployment(id, overrides = {}) {
  return {
    id,
    name: 'dhis2-chap-prediction',
    flow_name: 'dhis2-chap-prediction',
    description: 'Predictions for every enabled chap setup',
    tags: ['prediction'],
    parameters: {},
    paused: false,
    concurrency_limit: 1,
    collision_strategy: 'enqueue',
    retries: 2,
    retry_delay_seconds: 10,
    retry_backoff: 2,
    timeout_seconds: null,
    is_default: true,
    created_at: '2026-11-20T10:00:00Z',
    updated_at: '2026-11-20T10:00:00Z',
    ...overrides,
  };
}

const SCHEMA = {
  type: 'object',
  properties: {
    credentials: { title: 'DHIS2 credentials', description: 'The credentials block.', type: 'string', format: 'uuid', block_type_slug: 'dhis2-credentials' },
    end_mode: { title: 'End mode', type: 'string', enum: ['calculated', 'fixed', 'offset'], default: 'calculated' },
    end_date: { title: 'End date', type: ['string', 'null'], format: 'date', default: null },
    end_period_offset: { title: 'End period offset', type: ['integer', 'null'], minimum: 0, default: null },
    prediction_setup_id: { title: 'Prediction setup id', type: ['integer', 'null'], default: null },
  },
  required: ['credentials'],
  additionalProperties: false,
  allOf: [
    { if: { properties: { end_mode: { const: 'fixed' } }, required: ['end_mode'] }, then: { required: ['end_date'] } },
    { if: { properties: { end_mode: { const: 'offset' } }, required: ['end_mode'] }, then: { required: ['end_period_offset'] } },
  ],
};

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

/** Answers deployments, flows, blocks and triggers from fixtures; returns the trigger bodies. */
async function mockApi(p) {
  const triggers = [];
  const state = { paused: false };
  await p.route(/\/api\/v1\/(deployments|flows|blocks)(\/|\?|$)/, async (route) => {
    const request = route.request();
    const url = new URL(request.url());
    const parts = url.pathname.replace(/^\/api\/v1\//, '').split('/');
    if (parts[0] === 'blocks') {
      return route.fulfill(json({ items: [
        { id: BLOCK_ID, name: 'prod DHIS2', block_type: 'dhis2-credentials', data: { base_url: 'https://dhis2.example.org', username: 'admin' }, created_at: '2026-11-20T10:00:00Z', updated_at: '2026-11-20T10:00:00Z' },
        { id: 'b10cb10c-0000-4000-8000-000000000002', name: 'other type', block_type: 'something-else', data: {}, created_at: '2026-11-20T10:00:00Z', updated_at: '2026-11-20T10:00:00Z' },
      ] }));
    }
    if (parts[0] === 'flows') {
      return route.fulfill(json({ name: 'dhis2-chap-prediction', description: 'Predict', parameter_schema: SCHEMA }));
    }
    if (parts.length === 1) {
      return route.fulfill(json([deployment(DEPLOYMENT_ID), deployment(PAUSED_ID, { name: 'paused one', paused: true, concurrency_limit: null })]));
    }
    if (parts[1] === DEPLOYMENT_ID && parts.length === 2) {
      if (request.method() === 'PATCH') {
        const body = JSON.parse(request.postData());
        state.paused = body.paused;
      }
      return route.fulfill(json(deployment(DEPLOYMENT_ID, { paused: state.paused })));
    }
    if (parts[2] === 'runs' && request.method() === 'POST') {
      const body = JSON.parse(request.postData());
      triggers.push(body);
      if (body.parameters.end_period_offset === 99999) {
        return route.fulfill(json({ error: 'validation_failed', message: 'invalid parameters', details: { end_period_offset: 'is too large: 99999' } }, 422));
      }
      return route.fulfill(json({
        id: NEW_RUN_ID, deployment_id: DEPLOYMENT_ID, deployment_name: 'dhis2-chap-prediction', flow_name: 'dhis2-chap-prediction',
        parameters: body.parameters, state: 'PENDING', state_message: null, state_at: '2026-11-26T10:00:00Z', late: false,
        expected_start_at: '2026-11-26T10:00:00Z', started_at: null, ended_at: null, attempt: 1, max_attempts: 3,
        triggered_by: 'user:admin', schedule_id: null, retry_of: null, summary: null, created_at: '2026-11-26T10:00:00Z',
      }, 201));
    }
    return route.continue();
  });
  return triggers;
}

describe('deployment pages and the run form', { timeout: 180_000 }, () => {
  before(async () => {
    await mkdir(OUTPUT_DIR, { recursive: true });
    server = await startServer({ adminPassword: ADMIN_PASSWORD });
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await newPage();
    await logIn(page, 'admin', ADMIN_PASSWORD);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a server without flows lists no deployments', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Deployments', exact: true }).click();
    await page.getByTestId('deployments-empty').waitFor(WAIT);
    await screenshotBothSizes('deployments-empty');
  });

  test('deployments list with the paused marker', async () => {
    await mockApi(page);
    await page.goto(`${server.url}/deployments`);
    const list = page.getByTestId('deployments');
    await list.waitFor(WAIT);
    assert.equal(await list.locator('li').count(), 2);
    assert.equal(await list.locator(`li[data-deployment-id="${PAUSED_ID}"] .state-paused`).count(), 1);
    assert.equal(await list.locator(`li[data-deployment-id="${DEPLOYMENT_ID}"] .state-paused`).count(), 0);
    await screenshotBothSizes('deployments-list');
  });

  test('deployment detail: settings, pause and resume', async () => {
    await page.getByRole('link', { name: 'dhis2-chap-prediction' }).click();
    await page.waitForURL((url) => url.pathname === `/deployments/${DEPLOYMENT_ID}`, WAIT);
    await page.getByTestId('concurrency').waitFor(WAIT);
    assert.equal(await page.getByTestId('concurrency').textContent(), '1 at once (enqueue)');
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.getByRole('button', { name: 'Resume' }).waitFor(WAIT);
    assert.equal(await page.getByRole('button', { name: 'Run…' }).isDisabled(), true);
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByRole('button', { name: 'Pause' }).waitFor(WAIT);
    assert.equal(await page.getByRole('button', { name: 'Run…' }).isEnabled(), true);
  });

  test('the run form follows the schema and checks before sending', async () => {
    const triggers = await mockApi(page);
    await page.reload();
    await page.getByRole('button', { name: 'Run…' }).click();
    const credentials = page.getByLabel('DHIS2 credentials');
    await credentials.waitFor(WAIT);
    // Only blocks of the schema's type are offered.
    await page.locator('#param-credentials option', { hasText: 'prod DHIS2' }).waitFor({ state: 'attached', ...WAIT });
    assert.equal(await page.locator('#param-credentials option', { hasText: 'other type' }).count(), 0);
    assert.equal(await page.getByLabel('End mode').inputValue(), 'calculated');
    assert.equal(await page.getByLabel('End date').isVisible(), false);
    assert.equal(await page.getByLabel('End period offset').isVisible(), false);

    await page.getByLabel('End mode').selectOption('fixed');
    assert.equal(await page.getByLabel('End date').isVisible(), true);
    assert.equal(await page.getByLabel('End date').getAttribute('type'), 'date');
    assert.equal(await page.getByLabel('End period offset').isVisible(), false);

    await page.getByLabel('End mode').selectOption('offset');
    assert.equal(await page.getByLabel('End date').isVisible(), false);
    const offset = page.getByLabel('End period offset');
    assert.equal(await offset.getAttribute('min'), '0');
    await offset.fill('-1');
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.locator('[data-field="credentials"] .field-error', { hasText: 'Required.' }).waitFor(WAIT);
    await page.locator('[data-field="end_period_offset"] .field-error', { hasText: 'Must be at least 0.' }).waitFor(WAIT);
    assert.equal(await credentials.getAttribute('aria-invalid'), 'true');
    assert.equal(triggers.length, 0, 'an invalid form was sent');
    await screenshotBothSizes('run-form-errors');

    // A field error from the server lands at its field.
    await credentials.selectOption(BLOCK_ID);
    await offset.fill('99999');
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.locator('[data-field="end_period_offset"] .field-error', { hasText: 'is too large: 99999' }).waitFor(WAIT);
    assert.deepEqual(triggers[0].parameters, { credentials: BLOCK_ID, end_mode: 'offset', end_period_offset: 99999 });

    await offset.fill('1');
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL((url) => url.pathname === `/runs/${NEW_RUN_ID}`, WAIT);
    assert.deepEqual(triggers[1].parameters, { credentials: BLOCK_ID, end_mode: 'offset', end_period_offset: 1 });
  });

  test('a viewer sees a deployment without run or pause buttons', async () => {
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
    await mockApi(viewerPage);
    await viewerPage.goto(`${server.url}/deployments/${DEPLOYMENT_ID}`);
    await viewerPage.getByTestId('concurrency').waitFor(WAIT);
    assert.equal(await viewerPage.getByRole('button', { name: 'Run…' }).count(), 0);
    assert.equal(await viewerPage.getByRole('button', { name: 'Pause' }).count(), 0);
    await viewerPage.context().close();
  });

  test('no page errors and no CSP violations', () => {
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(cspViolations, []);
  });
});
