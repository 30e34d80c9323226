// The credentials page in real Chromium against the real server and the real SPA, no fixtures:
// create a block from its type's schema, edit it without the password, test the connection.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { apiLogin, launchBrowser, logIn, navLink, newPage, newProblems, screenshotBothSizes, WAIT } from '../lib/browser.mjs';
import { startServer } from '../lib/server.mjs';

const ADMIN_PASSWORD = 'e2e-admin-password-0123';
const VIEWER_PASSWORD = 'e2e-viewer-password-0123';
const DHIS2_PASSWORD = 'district-Secret-42';

let server;
let browser;
let page;
let api;
const problems = newProblems();

describe('credentials page', { timeout: 180_000 }, () => {
  before(async () => {
    server = await startServer({ adminPassword: ADMIN_PASSWORD });
    api = await apiLogin(server.url, 'admin', ADMIN_PASSWORD);
    browser = await launchBrowser();
    page = await newPage(browser, problems);
    await logIn(page, server.url, 'admin', ADMIN_PASSWORD);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('no credentials yet', async () => {
    await navLink(page, 'Credentials').click();
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

  test('no page errors and no CSP violations', () => {
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.cspViolations, []);
  });
});
