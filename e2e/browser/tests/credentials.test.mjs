// The credentials page in real Chromium against the real server and the real SPA, no fixtures:
// create a block from its type's schema, edit it without the password, test the connection; then a
// block with a personal access token, tested against the DHIS2 simulator.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { apiLogin, launchBrowser, logIn, navLink, newPage, newProblems, screenshotBothSizes, WAIT } from '../lib/browser.mjs';
import { startServer, startSimulator } from '../lib/server.mjs';

const ADMIN_PASSWORD = 'e2e-admin-password-0123';
const VIEWER_PASSWORD = 'e2e-viewer-password-0123';
const DHIS2_PASSWORD = 'district-Secret-42';
const DHIS2_TOKEN = 'd2pat_e2eTokenSecret0123456789';

let sim;
let server;
let browser;
let page;
let api;
const problems = newProblems();

describe('credentials page', { timeout: 180_000 }, () => {
  before(async () => {
    sim = await startSimulator({ overrides: { api_token: DHIS2_TOKEN } });
    server = await startServer({ adminPassword: ADMIN_PASSWORD });
    api = await apiLogin(server.url, 'admin', ADMIN_PASSWORD);
    browser = await launchBrowser();
    page = await newPage(browser, problems);
    await logIn(page, server.url, 'admin', ADMIN_PASSWORD);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await sim?.stop();
  });

  test('no credentials yet', async () => {
    await navLink(page, 'Credentials').click();
    await page.getByTestId('credentials-empty').waitFor(WAIT);
  });

  test('creating credentials checks the form, then stores them without showing the password', async () => {
    await page.getByRole('button', { name: 'New credentials' }).click();
    await page.locator('#name').waitFor(WAIT);
    assert.equal(await page.locator('#block-password').getAttribute('type'), 'password');
    // A new block starts on username and password; the token field is not shown.
    assert.equal(await page.locator('#block-auth_type').inputValue(), 'basic');
    assert.equal(await page.locator('#block-token').isVisible(), false);
    await page.getByRole('button', { name: 'Save' }).click();
    for (const field of ['name', 'block-base_url', 'block-username', 'block-password']) {
      await page.locator(`[data-field="${field}"] .field-error`, { hasText: 'Required.' }).waitFor(WAIT);
    }
    assert.equal(await page.locator('[data-field="block-token"] .field-error').textContent(), '');
    await screenshotBothSizes(page, 'credentials-form-errors');

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
    assert.equal(await page.getByText('Leave empty to keep the stored token.').count(), 0);
    await page.locator('#block-username').fill('admin2');
    await page.getByRole('button', { name: 'Save' }).click();
    const card = page.getByTestId('credentials').locator('li', { hasText: 'prod DHIS2' });
    await card.getByText('admin2').waitFor(WAIT);
    const blocks = await api.get('/blocks');
    assert.equal(blocks.body.items.length, 1);
    assert.equal(blocks.body.items[0].data.username, 'admin2');
    assert.equal(blocks.body.items[0].data.password_set, true);
  });

  test('test connection shows the outcome per service', async () => {
    await page.getByRole('button', { name: 'Test connection' }).click();
    const result = page.getByTestId('test-result');
    await result.locator('.check-failed', { hasText: 'DHIS2: failed' }).waitFor({ timeout: 30_000 });
    assert.ok(!(await result.textContent()).includes(DHIS2_PASSWORD));
    await screenshotBothSizes(page, 'credentials');
  });

  test('a viewer sees the credentials but cannot change or test them', async () => {
    const created = await api.post('/users', { username: 'viewer', password: VIEWER_PASSWORD, role: 'viewer' });
    assert.equal(created.status, 201);
    const viewerPage = await newPage(browser, problems);
    await logIn(viewerPage, server.url, 'viewer', VIEWER_PASSWORD);
    await viewerPage.goto(`${server.url}/credentials`);
    await viewerPage.getByTestId('credentials').waitFor(WAIT);
    for (const name of ['New credentials', 'Edit prod DHIS2', 'Test connection', 'Delete… prod DHIS2']) {
      assert.equal(await viewerPage.getByRole('button', { name }).count(), 0, name);
    }
    await viewerPage.context().close();
  });

  test('credentials in use are not deleted, and say by what; unused ones go after confirming', async () => {
    const [block] = (await api.get('/blocks')).body.items;
    const deployment = (await api.get('/deployments')).body.find((d) => d.flow_name === 'dhis2-chap-prediction');
    assert.equal((await api.patch(`/deployments/${deployment.id}`, { parameters: { credentials: block.id } })).status, 200);
    const card = page.getByTestId('credentials').locator('li', { hasText: 'prod DHIS2' });
    await card.getByRole('button', { name: 'Delete… prod DHIS2' }).click();
    await card.getByText('Delete these credentials?').waitFor(WAIT);
    await card.getByRole('button', { name: 'Delete credentials prod DHIS2' }).click();
    await card.getByRole('alert').filter({ hasText: /is used by the deployment/ }).waitFor(WAIT);
    assert.equal((await api.get('/blocks')).body.items.length, 1);

    assert.equal((await api.patch(`/deployments/${deployment.id}`, { parameters: {} })).status, 200);
    await card.getByRole('button', { name: 'Delete credentials prod DHIS2' }).click();
    await page.getByTestId('credentials-empty').waitFor(WAIT);
    assert.equal((await api.get('/blocks')).body.items.length, 0);
  });

  test('a block with a personal access token shows only the token field and never shows the token', async () => {
    await page.getByRole('button', { name: 'New credentials' }).click();
    await page.locator('#block-auth_type').waitFor(WAIT);
    assert.equal(await page.locator('#block-username').isVisible(), true);
    await page.locator('#block-auth_type').selectOption({ label: 'Personal access token' });
    await page.locator('#block-token').waitFor(WAIT);
    assert.equal(await page.locator('#block-username').isVisible(), false);
    assert.equal(await page.locator('#block-password').isVisible(), false);
    assert.equal(await page.locator('#block-token').getAttribute('type'), 'password');
    assert.equal(await page.locator('#block-token').inputValue(), '');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('[data-field="block-token"] .field-error', { hasText: 'Required.' }).waitFor(WAIT);
    for (const hidden of ['block-username', 'block-password']) {
      assert.equal(await page.locator(`[data-field="${hidden}"] .field-error`).textContent(), '', hidden);
    }
    await screenshotBothSizes(page, 'credentials-token-form');

    await page.locator('#name').fill('token DHIS2');
    await page.locator('#block-base_url').fill(sim.url);
    await page.locator('#block-token').fill(DHIS2_TOKEN);
    await page.getByRole('button', { name: 'Save' }).click();
    const card = page.getByTestId('credentials').locator('li', { hasText: 'token DHIS2' });
    await card.waitFor(WAIT);
    const facts = card.locator('dl.facts');
    assert.match(await facts.textContent(), /AuthenticationPersonal access token/);
    assert.match(await facts.textContent(), /Personal access tokenset \(hidden\)/);
    assert.doesNotMatch(await facts.textContent(), /Username|Password/);
    assert.ok(!(await page.content()).includes(DHIS2_TOKEN), 'the token is in the page');
    const [stored] = (await api.get('/blocks')).body.items.filter((b) => b.name === 'token DHIS2');
    assert.equal(stored.data.auth_type, 'pat');
    assert.equal(stored.data.token_set, true);
    assert.equal(stored.data.username, undefined);

    // Editing shows the token field empty and keeps the stored token when it stays empty.
    await page.getByRole('button', { name: 'Edit token DHIS2' }).click();
    await page.locator('#block-token').waitFor(WAIT);
    assert.equal(await page.locator('#block-auth_type').inputValue(), 'pat');
    assert.equal(await page.locator('#block-token').inputValue(), '');
    assert.equal(await page.locator('#block-username').isVisible(), false);
    await page.getByText('Leave empty to keep the stored token.').waitFor(WAIT);
    // Back to a username and password: none is stored, so the password is required.
    await page.locator('#block-auth_type').selectOption('basic');
    assert.equal(await page.locator('#block-token').isVisible(), false);
    assert.equal(await page.getByText('Leave empty to keep the stored password.').count(), 0);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('[data-field="block-password"] .field-error', { hasText: 'Required.' }).waitFor(WAIT);
    await page.locator('#block-auth_type').selectOption('pat');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#block-form-heading').waitFor({ state: 'detached', ...WAIT });
    const [kept] = (await api.get('/blocks')).body.items.filter((b) => b.name === 'token DHIS2');
    assert.equal(kept.data.token_set, true);
    assert.ok(!(await page.content()).includes(DHIS2_TOKEN), 'the token is in the page');
  });

  test('test connection with a token says whose account it is', async () => {
    const card = page.getByTestId('credentials').locator('li', { hasText: 'token DHIS2' });
    await card.getByRole('button', { name: 'Test connection' }).click();
    const result = card.getByTestId('test-result');
    await result.locator('.check-ok', { hasText: 'DHIS2: reachable' }).waitFor({ timeout: 30_000 });
    await result
      .locator('.check-ok', { hasText: `Account: ${sim.username} — can import data values` })
      .waitFor(WAIT);
    assert.ok(!(await page.content()).includes(DHIS2_TOKEN), 'the token is in the page');
    await screenshotBothSizes(page, 'credentials-token');
  });

  test('no page errors and no CSP violations', () => {
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.cspViolations, []);
  });
});
