// The admin and account pages in real Chromium against the real server and the real SPA: users
// (create with inline checks, role, password reset, disable), API tokens (secret shown once, copied,
// working until revoked), the audit log (filters, "Load more"), changing your own password, and
// what a viewer may see. The tests share one admin page and run in order, like one operator's day.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  apiLogin,
  eventually,
  launchBrowser,
  logIn,
  navLink,
  newPage,
  newProblems,
  OUTPUT_DIR,
  screenshotBothSizes,
  WAIT,
} from '../lib/browser.mjs';
import { startServer } from '../lib/server.mjs';

const ADMIN_PASSWORD = 'e2e-admin-password-0123';
const NEW_ADMIN_PASSWORD = 'e2e-admin-changed-4567';
const BOB_PASSWORD = 'bob-first-password-01';
const BOB_RESET_PASSWORD = 'bob-reset-password-02';
const VIEWER_PASSWORD = 'e2e-viewer-password-0123';

let server;
let browser;
let page;
let adminPassword = ADMIN_PASSWORD;
const problems = newProblems();

/** Status of `POST /auth/login` for these credentials. */
async function loginStatus(username, password) {
  const response = await fetch(`${server.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  return response.status;
}

/** Status of `GET /auth/me` with an API token. */
async function meWithToken(secret) {
  const response = await fetch(`${server.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${secret}` } });
  return { status: response.status, body: await response.json().catch(() => null) };
}

function userRow(username) {
  return page.locator('tr[data-user-id]', { has: page.locator('th', { hasText: new RegExp(`^${username}( \\(you\\))?$`) }) });
}

function button(name, scope = page) {
  return scope.getByRole('button', { name, exact: true });
}

const isoDay = (date) => date.toISOString().slice(0, 10);

describe('admin and account pages', { timeout: 300_000 }, () => {
  before(async () => {
    server = await startServer({ adminPassword: ADMIN_PASSWORD });
    browser = await launchBrowser();
    page = await newPage(browser, problems, { permissions: ['clipboard-read', 'clipboard-write'] });
    await logIn(page, server.url, 'admin', ADMIN_PASSWORD);
  });

  after(async () => {
    // Kept next to the screenshots to help when a test fails.
    await writeFile(path.join(OUTPUT_DIR, 'admin-console.log'), problems.console.join('\n') + '\n');
    await browser?.close();
    await server?.stop();
  });

  test('the users page lists every user with role, status and dates', async () => {
    await navLink(page, 'Users').click();
    const row = userRow('admin');
    await row.waitFor(WAIT);
    assert.match(await row.textContent(), /\(you\)/);
    assert.match(await row.textContent(), /Enabled/);
    assert.equal(await page.getByLabel('Role of admin').inputValue(), 'admin');
    assert.equal(await page.title(), 'Users · chap-scheduler');
    await screenshotBothSizes(page, 'admin-users');
  });

  test('the new user form checks the fields before sending, then creates the user', async () => {
    await button('New user').click();
    const form = page.getByTestId('new-user');
    await page.locator('#new-username').waitFor(WAIT);
    await eventually(async () => (await page.evaluate(() => document.activeElement?.id)) === 'new-username', {
      what: 'focus moves into the form',
    });

    await page.locator('#new-username').fill('bob smith');
    await page.locator('#new-password').fill('short');
    await button('Create user', form).click();
    await page.locator('#new-username-error', { hasText: 'a space is not allowed' }).waitFor(WAIT);
    await page.locator('#new-password-error', { hasText: 'At least 12 characters' }).waitFor(WAIT);
    assert.equal(await page.locator('#new-password').getAttribute('aria-invalid'), 'true');
    assert.match(await page.locator('#new-password').getAttribute('aria-describedby'), /new-password-error/);
    await screenshotBothSizes(page, 'admin-users-form');

    // Fixing a field clears its message as you type.
    await page.locator('#new-username').fill('bob');
    await eventually(async () => (await page.locator('#new-username-error').textContent()) === '', {
      what: 'the username error clears',
    });
    await page.locator('#new-password').fill(BOB_PASSWORD);
    await page.locator('#new-role').selectOption('viewer');
    await button('Create user', form).click();
    await page.getByRole('status').filter({ hasText: 'User bob created with the role viewer.' }).waitFor(WAIT);
    await userRow('bob').waitFor(WAIT);
    assert.equal(await form.count(), 0, 'the form closes');
    assert.equal(await loginStatus('bob', BOB_PASSWORD), 200);
  });

  test('a taken username is refused at the username field', async () => {
    await button('New user').click();
    const form = page.getByTestId('new-user');
    await page.locator('#new-username').fill('bob');
    await page.locator('#new-password').fill(BOB_PASSWORD);
    await button('Create user', form).click();
    await page.locator('#new-username-error', { hasText: 'A user named bob already exists.' }).waitFor(WAIT);
    assert.equal(await page.locator('#new-username').getAttribute('aria-invalid'), 'true');
    await button('Cancel', form).click();
    await button('New user').waitFor(WAIT);
  });

  test('changing a role saves it and says so in the row', async () => {
    await page.getByLabel('Role of bob').selectOption('operator');
    await button('Save role of bob').click();
    await userRow('bob').getByRole('status').filter({ hasText: 'Saved: operator.' }).waitFor(WAIT);
    const api = await apiLogin(server.url, 'admin', adminPassword);
    const users = await api.get('/users');
    assert.equal(users.body.items.find((u) => u.username === 'bob').role, 'operator');
  });

  test('the last admin demoting themself asks first, and the server refusal is shown', async () => {
    await page.getByLabel('Role of admin').selectOption('viewer');
    await button('Save role of admin').click();
    const confirm = page.getByTestId('user-confirm');
    await confirm.getByRole('heading', { name: 'Give up your admin role?' }).waitFor(WAIT);
    await button('Yes, make me viewer', confirm).click();
    await confirm
      .getByRole('alert')
      .filter({ hasText: 'This is the last enabled admin; make another user admin first.' })
      .waitFor(WAIT);
    await button('Cancel', confirm).click();
    assert.equal(await confirm.count(), 0);
    await eventually(
      () => page.evaluate(() => document.activeElement?.getAttribute('aria-describedby')?.endsWith('-role-status')),
      { what: 'focus returns to the role picker' },
    );
    // The row shows the role the admin really has.
    await eventually(async () => (await page.getByLabel('Role of admin').inputValue()) === 'admin', { what: 'role shown as admin' });
  });

  test('resetting a password checks it, ends the sessions, and the new password works', async () => {
    await button('Reset password for bob').click();
    const panel = page.getByTestId('reset-password');
    await panel.getByRole('heading', { name: 'Reset the password of bob' }).waitFor(WAIT);
    assert.match(await panel.textContent(), /signed out everywhere/);
    await page.locator('#reset-password').fill('too-short');
    await button('Set new password', panel).click();
    await page.locator('#reset-password-error', { hasText: 'At least 12 characters' }).waitFor(WAIT);
    await page.locator('#reset-password').fill(BOB_RESET_PASSWORD);
    await button('Set new password', panel).click();
    await page.getByRole('status').filter({ hasText: 'The password of bob was reset' }).waitFor(WAIT);
    assert.equal(await panel.count(), 0);
    assert.equal(await loginStatus('bob', BOB_RESET_PASSWORD), 200);
    assert.equal(await loginStatus('bob', BOB_PASSWORD), 401);
  });

  test('disabling a user is confirmed inline, Escape backs out, and then their login fails', async () => {
    await button('Disable bob').click();
    const confirm = page.getByTestId('user-confirm');
    await confirm.getByRole('heading', { name: 'Disable bob?' }).waitFor(WAIT);
    assert.match(await confirm.textContent(), /signed out everywhere/);
    assert.match(await confirm.textContent(), /API token of theirs is revoked/);
    await page.keyboard.press('Escape');
    await eventually(async () => (await confirm.count()) === 0, { what: 'Escape closes the confirmation' });
    // Focus moves back on the next animation frame.
    await eventually(async () => /-toggle$/.test(await page.evaluate(() => document.activeElement?.id ?? '')), {
      what: 'focus returns to Disable',
    });
    assert.equal(await loginStatus('bob', BOB_RESET_PASSWORD), 200, 'nothing changed');

    await button('Disable bob').click();
    await button('Yes, disable bob', confirm).click();
    await userRow('bob').getByText('Disabled', { exact: true }).waitFor(WAIT);
    await button('Enable bob').waitFor(WAIT);
    assert.equal(await loginStatus('bob', BOB_RESET_PASSWORD), 401);
  });

  test('an API token made in the UI is shown once, copies, works, and stops working when revoked', async () => {
    await navLink(page, 'API tokens').click();
    await page.getByTestId('tokens-empty').waitFor(WAIT);
    await button('New token').click();
    const form = page.getByTestId('new-token');
    await page.locator('#token-name').fill('ci export');
    await page.locator('#token-role').selectOption('operator');
    const yesterday = new Date(Date.now() - 86_400_000);
    await page.locator('#token-expires').fill(isoDay(yesterday));
    await button('Create token', form).click();
    await page.locator('#token-expires-error', { hasText: 'Choose today or a later day.' }).waitFor(WAIT);
    const nextYear = new Date(Date.now() + 365 * 86_400_000);
    await page.locator('#token-expires').fill(isoDay(nextYear));
    await button('Create token', form).click();

    const box = page.getByTestId('token-secret-box');
    await box.waitFor(WAIT);
    assert.match(await box.textContent(), /will not be shown again/);
    const secret = (await page.getByTestId('token-secret').textContent()).trim();
    assert.ok(secret.length > 20, `a secret: ${secret}`);
    await screenshotBothSizes(page, 'admin-tokens-secret');

    await button('Copy the token', box).click();
    await box.getByRole('status').filter({ hasText: 'Copied' }).waitFor(WAIT);
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);

    const me = await meWithToken(secret);
    assert.equal(me.status, 200);
    assert.equal(me.body.username, 'admin');

    await button('Done, hide the token', box).click();
    assert.equal(await box.count(), 0);
    assert.ok(!(await page.content()).includes(secret), 'the secret is still in the page');

    const row = page.locator('tr[data-token-id]', { hasText: 'ci export' });
    await row.waitFor(WAIT);
    const text = await row.textContent();
    assert.ok(text.includes(secret.slice(0, 12)), `the prefix is listed: ${text}`);
    assert.match(text, /operator/);
    // The day ends on the viewer's clock (this browser's zone is UTC): the last second of it.
    assert.match(text, new RegExp(`${isoDay(nextYear)} 23:59`));
    await row.locator(`time[datetime="${isoDay(nextYear)}T23:59:59Z"]`).waitFor(WAIT);
    assert.match(text, /Active/);
    await page.getByRole('columnheader', { name: 'Owner' }).waitFor(WAIT);

    await button('Revoke ci export', row).click();
    await button('Yes, revoke ci export', row).click();
    await page.getByRole('status').filter({ hasText: 'Token ci export is revoked' }).waitFor(WAIT);
    await row.getByText('Revoked', { exact: true }).waitFor(WAIT);
    assert.equal(await button('Revoke ci export').count(), 0);
    assert.equal((await meWithToken(secret)).status, 401);
  });

  test('the account page refuses a wrong current password at the field, then changes it', async () => {
    await navLink(page, 'Account').click();
    await page.getByText('Last login').waitFor(WAIT);
    await page.locator('#current-password').fill('not-my-password');
    await page.locator('#new-password').fill(NEW_ADMIN_PASSWORD);
    await page.locator('#confirm-password').fill('something-else-entirely');
    await button('Change password').click();
    await page.locator('#confirm-password-error', { hasText: 'Does not match the new password.' }).waitFor(WAIT);

    await page.locator('#confirm-password').fill(NEW_ADMIN_PASSWORD);
    await button('Change password').click();
    await page.locator('#current-password-error', { hasText: 'The current password is wrong.' }).waitFor(WAIT);
    assert.equal(await page.locator('#current-password').getAttribute('aria-invalid'), 'true');
    assert.equal(await loginStatus('admin', ADMIN_PASSWORD), 200, 'not changed yet');

    await page.locator('#current-password').fill(ADMIN_PASSWORD);
    await button('Change password').click();
    await page.getByRole('status').filter({ hasText: 'Password changed. Your other sessions were signed out.' }).waitFor(WAIT);
    assert.equal(await page.locator('#current-password').inputValue(), '', 'the fields are emptied');
    await screenshotBothSizes(page, 'admin-account');
    adminPassword = NEW_ADMIN_PASSWORD;
    assert.equal(await loginStatus('admin', NEW_ADMIN_PASSWORD), 200);
    assert.equal(await loginStatus('admin', ADMIN_PASSWORD), 401);
  });

  test('the audit log lists those actions newest first, filters by action and pages on', async () => {
    await navLink(page, 'Audit log').click();
    const table = page.getByTestId('audit-table');
    await table.waitFor(WAIT);
    for (const action of ['user.created', 'user.updated', 'token.created', 'token.revoked', 'auth.password_changed']) {
      await table.locator(`tr[data-action="${action}"]`).first().waitFor(WAIT);
    }
    const times = await table.locator('tbody tr td:first-child').allTextContents();
    assert.deepEqual(times, [...times].sort().reverse(), 'newest first');
    await screenshotBothSizes(page, 'admin-audit');

    await page.getByLabel('Action').fill('token.revoked');
    await button('Apply filters').click();
    await eventually(
      async () => {
        const actions = await table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.action));
        return actions.length === 1 && actions[0] === 'token.revoked';
      },
      { what: 'only token.revoked is listed' },
    );
    assert.match(await table.locator('tbody tr').first().textContent(), /"name":"ci export"/);

    const tomorrow = isoDay(new Date(Date.now() + 86_400_000));
    await page.getByLabel('From').fill(tomorrow);
    await button('Apply filters').click();
    await page.getByTestId('audit-empty').filter({ hasText: 'No events match these filters.' }).waitFor(WAIT);

    // More than one page of events: 60 tokens made through the API.
    const api = await apiLogin(server.url, 'admin', adminPassword);
    for (let i = 0; i < 60; i += 1) {
      assert.equal((await api.post('/tokens', { name: `bulk ${i}` })).status, 201);
    }
    await button('Clear').click();
    await eventually(async () => (await table.locator('tbody tr').count()) === 50, { what: 'a first page of 50' });
    await button('Load more').click();
    await eventually(async () => (await table.locator('tbody tr').count()) > 50, { what: 'Load more appends' });
    const ids = await table.locator('tbody tr').count();
    assert.ok(ids > 60, `all events after Load more: ${ids}`);
  });

  test('a viewer sees their own tokens without create or revoke, and is not allowed on users and audit', async () => {
    const admin = await apiLogin(server.url, 'admin', adminPassword);
    assert.equal((await admin.post('/users', { username: 'vera', password: VIEWER_PASSWORD, role: 'viewer' })).status, 201);
    const vera = await apiLogin(server.url, 'vera', VIEWER_PASSWORD);
    assert.equal((await vera.post('/tokens', { name: 'vera dashboard' })).status, 201);

    const viewerPage = await newPage(browser, problems);
    await logIn(viewerPage, server.url, 'vera', VIEWER_PASSWORD);
    assert.equal(await navLink(viewerPage, 'Users').count(), 0);
    assert.equal(await navLink(viewerPage, 'Audit log').count(), 0);
    await navLink(viewerPage, 'API tokens').click();
    const rows = viewerPage.locator('tr[data-token-id]');
    await rows.first().waitFor(WAIT);
    assert.equal(await rows.count(), 1, 'only her own token');
    assert.match(await rows.first().textContent(), /vera dashboard/);
    assert.equal(await viewerPage.getByRole('button', { name: 'New token' }).count(), 0);
    assert.equal(await viewerPage.getByRole('button', { name: /Revoke/ }).count(), 0);
    assert.equal(await viewerPage.getByRole('columnheader', { name: 'Owner' }).count(), 0);
    assert.equal(await viewerPage.getByRole('button').filter({ hasText: /Disable|Enable|Reset|Save/ }).count(), 0);
    await screenshotBothSizes(viewerPage, 'viewer-tokens');

    for (const pathname of ['/admin/users', '/admin/audit']) {
      await viewerPage.goto(`${server.url}${pathname}`);
      await viewerPage.getByRole('heading', { name: 'Not allowed' }).waitFor(WAIT);
    }
    await screenshotBothSizes(viewerPage, 'not-allowed');
    await viewerPage.context().close();
  });

  test('no page errors and no CSP violations', () => {
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.cspViolations, []);
  });
});
