// The credentials page in real Chromium against the real server and the real SPA, no fixtures:
// create a block from its type's schema, edit it without the password, test the connection.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';

import { repoRoot, startServer } from '../lib/server.mjs';

const ADMIN_PASSWORD = 'e2e-admin-password-0123';
const VIEWER_PASSWORD = 'e2e-viewer-password-0123';
const DHIS2_PASSWORD = 'district-Secret-42';
const OUTPUT_DIR = path.join(repoRoot, 'e2e/browser/output');
const DESKTOP = { width: 1280, height: 800 };
const MOBILE = { width: 375, height: 740 };
const WAIT = { timeout: 15_000 };

let server;
let browser;
let page;
let token;
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

async function api(method, pathname, body) {
  const response = await fetch(`${server.url}/api/v1${pathname}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

describe('credentials page', { timeout: 180_000 }, () => {
  before(async () => {
    await mkdir(OUTPUT_DIR, { recursive: true });
    server = await startServer({ adminPassword: ADMIN_PASSWORD });
    const login = await fetch(`${server.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
    });
    token = (await login.json()).access_token;
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

  test('no credentials yet', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Credentials', exact: true }).click();
    await page.getByTestId('credentials-empty').waitFor(WAIT);
  });

  test('creating credentials checks the form, then stores them without showing the password', async () => {
    await page.getByRole('button', { name: 'New credentials' }).click();
    await page.locator('#name').waitFor(WAIT);
    assert.equal(await page.locator('#block-password').getAttribute('type'), 'password');
    await page.getByRole('button', { name: 'Save' }).click();
    for (const field of ['name', 'block-base_url', 'block-username', 'block-password']) {
      await page.locator(`[data-field="${field}"] .field-error`, { hasText: 'Required.' }).waitFor(WAIT);
    }
    await screenshotBothSizes('credentials-form-errors');

    await page.locator('#name').fill('prod DHIS2');
    // Nothing listens on port 9: the connection test below fails in a known way.
    await page.locator('#block-base_url').fill('http://127.0.0.1:9');
    await page.locator('#block-username').fill('admin');
    await page.locator('#block-password').fill(DHIS2_PASSWORD);
    await page.getByRole('button', { name: 'Save' }).click();
    const card = page.getByTestId('credentials').locator('li', { hasText: 'prod DHIS2' });
    await card.waitFor(WAIT);
    assert.match(await card.textContent(), /set \(hidden\)/);
    assert.ok(!(await page.content()).includes(DHIS2_PASSWORD), 'the password is in the page');
  });

  test('editing leaves the password empty and keeps the stored one', async () => {
    await page.getByRole('button', { name: 'Edit prod DHIS2' }).click();
    await page.locator('#block-username').waitFor(WAIT);
    assert.equal(await page.locator('#block-password').inputValue(), '');
    assert.equal(await page.locator('#block-username').inputValue(), 'admin');
    await page.getByText('Leave empty to keep the stored password.').waitFor(WAIT);
    await page.locator('#block-username').fill('admin2');
    await page.getByRole('button', { name: 'Save' }).click();
    const card = page.getByTestId('credentials').locator('li', { hasText: 'prod DHIS2' });
    await card.getByText('admin2').waitFor(WAIT);
    const blocks = await api('GET', '/blocks');
    assert.equal(blocks.body.items.length, 1);
    assert.equal(blocks.body.items[0].data.username, 'admin2');
    assert.equal(blocks.body.items[0].data.password_set, true);
  });

  test('test connection shows the outcome per service', async () => {
    await page.getByRole('button', { name: 'Test connection' }).click();
    const result = page.getByTestId('test-result');
    await result.locator('.check-failed', { hasText: 'DHIS2: failed' }).waitFor({ timeout: 30_000 });
    assert.ok(!(await result.textContent()).includes(DHIS2_PASSWORD));
    await screenshotBothSizes('credentials');
  });

  test('a viewer sees the credentials but cannot change or test them', async () => {
    const created = await api('POST', '/users', { username: 'viewer', password: VIEWER_PASSWORD, role: 'viewer' });
    assert.equal(created.status, 201);
    const viewerPage = await newPage();
    await logIn(viewerPage, 'viewer', VIEWER_PASSWORD);
    await viewerPage.goto(`${server.url}/credentials`);
    await viewerPage.getByTestId('credentials').waitFor(WAIT);
    for (const name of ['New credentials', 'Edit prod DHIS2', 'Test connection']) {
      assert.equal(await viewerPage.getByRole('button', { name }).count(), 0, name);
    }
    await viewerPage.context().close();
  });

  test('no page errors and no CSP violations', () => {
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(cspViolations, []);
  });
});
