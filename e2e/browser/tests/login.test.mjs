// The sign-in flow in real Chromium against the real server and the real SPA: redirect to login,
// wrong password, throttling, sign in, navigation, survive a reload, token renewal, log out, deep links.
// The tests share one browser page and run in order, like one user's session.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, navLink, newPage, newProblems, OUTPUT_DIR, screenshotBothSizes, WAIT } from '../lib/browser.mjs';
import { appPath, startServer } from '../lib/server.mjs';

const ADMIN_PASSWORD = 'e2e-admin-password-0123';
const UNAUTHORIZED = {
  status: 401,
  contentType: 'application/json',
  body: JSON.stringify({ error: 'unauthorized', message: 'The access token has expired.' }),
};

let server;
let browser;
let page;
let csp;
const problems = newProblems();

async function screenshot(name) {
  await page.screenshot({ path: path.join(OUTPUT_DIR, `${name}.png`), fullPage: true });
}

function pathOf(url) {
  return appPath(url) + new URL(url).search;
}

async function waitForLoginForm() {
  await page.getByLabel('Username').waitFor(WAIT);
  await page.getByLabel('Password').waitFor(WAIT);
}

async function logIn(username, password) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function currentUserText() {
  const currentUser = page.getByTestId('current-user');
  await currentUser.waitFor(WAIT);
  return currentUser.textContent();
}

describe('signing in and out', { timeout: 120_000 }, () => {
  before(async () => {
    server = await startServer({
      adminPassword: ADMIN_PASSWORD,
      // A low per-account limit makes the throttling test quick; other accounts are unaffected.
      env: { CHAP_SCHEDULER_LOGIN_MAX_FAILURES_PER_ACCOUNT: '3' },
    });
    browser = await launchBrowser();
    page = await newPage(browser, problems);
  });

  after(async () => {
    // Kept next to the screenshots to help when a test fails.
    await writeFile(path.join(OUTPUT_DIR, 'login-console.log'), problems.console.join('\n') + '\n');
    await browser?.close();
    await server?.stop();
  });

  test('opening the app signed out shows the login page', async () => {
    const response = await page.goto(`${server.url}/`);
    csp = response.headers()['content-security-policy'];
    await page.waitForURL((url) => appPath(url) === '/login', WAIT);
    await waitForLoginForm();
    assert.equal(await page.getByRole('button', { name: 'Sign in' }).isEnabled(), true);
    await screenshotBothSizes(page, 'login');
  });

  test('a wrong password says so and keeps the user on the login page', async () => {
    await logIn('admin', 'not-the-password');
    await page.getByText('Wrong username or password.').waitFor(WAIT);
    assert.equal(appPath(page.url()), '/login');
    await screenshot('login-wrong-password-desktop');
  });

  test('repeated failures are throttled with a "try again in N s" message', async () => {
    const message = page.getByText(/Too many attempts; try again in \d+\ss/);
    for (let attempt = 0; attempt < 6 && (await message.count()) === 0; attempt += 1) {
      await logIn('mallory', 'guessing-wrong');
      await page.getByRole('alert').filter({ hasText: /\S/ }).waitFor(WAIT);
    }
    await message.waitFor(WAIT);
    await screenshot('login-throttled-desktop');
  });

  test('signing in as admin shows the app with the user, the navigation and the dashboard', async () => {
    await logIn('admin', ADMIN_PASSWORD);
    assert.match(await currentUserText(), /admin/);
    assert.equal(appPath(page.url()), '/');
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor(WAIT);
    const nav = page.getByRole('navigation', { name: 'Main' });
    for (const name of ['Dashboard', 'Deployments', 'Runs', 'Credentials', 'Users', 'API tokens', 'Audit log', 'Account']) {
      assert.equal(await nav.getByRole('link', { name, exact: true }).count(), 1, `navigation has "${name}"`);
    }
    await screenshotBothSizes(page, 'dashboard');
  });

  test('the keyboard reaches the navigation, and the focused link shows a focus ring', async () => {
    await page.goto(`${server.url}/`);
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor(WAIT);
    const focused = [];
    for (let i = 0; i < 6; i += 1) {
      await page.keyboard.press('Tab');
      focused.push(
        await page.evaluate(() => {
          const el = document.activeElement;
          const style = getComputedStyle(el);
          return { text: el.textContent.trim(), outline: style.outlineStyle, width: parseFloat(style.outlineWidth) };
        }),
      );
    }
    const dashboard = focused.find((f) => f.text === 'Dashboard');
    assert.ok(dashboard, `Tab reaches the Dashboard link (${focused.map((f) => f.text).join(' → ')})`);
    for (const f of focused) assert.ok(f.outline !== 'none' && f.width >= 2, `visible focus on ${f.text}`);
  });

  test('the navigation opens pages, and unknown addresses say the page is not found', async () => {
    await navLink(page, 'Runs').click();
    await page.getByRole('heading', { name: 'Runs', exact: true }).waitFor(WAIT);
    assert.equal(appPath(page.url()), '/runs');
    await screenshot('runs-empty-desktop');

    await navLink(page, 'Account').click();
    await page.getByRole('heading', { name: 'Account' }).waitFor(WAIT);
    // The account details come from an authenticated API call.
    await page.getByText('Last login').waitFor(WAIT);

    await page.goto(`${server.url}/no/such/page`);
    await page.getByRole('heading', { name: 'Page not found' }).waitFor(WAIT);
    assert.match(await currentUserText(), /admin/);
    await screenshotBothSizes(page, 'not-found');
  });

  test('reloading the page keeps the user signed in', async () => {
    await page.goto(`${server.url}/deployments`);
    await page.getByRole('heading', { name: 'Deployments' }).waitFor(WAIT);
    // Slow the session restore down so the in-between state can be seen: "Loading…", not the login form.
    await page.route('**/api/v1/auth/refresh', async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await route.continue();
    });
    await page.reload();
    await page.getByText('Loading…').waitFor(WAIT);
    assert.equal(await page.getByLabel('Password').count(), 0, 'no login form while restoring the session');
    assert.match(await currentUserText(), /admin/);
    await page.unroute('**/api/v1/auth/refresh');
    await page.getByRole('heading', { name: 'Deployments' }).waitFor(WAIT);
    assert.equal(appPath(page.url()), '/deployments');
    await screenshot('deployments-after-reload-desktop');
  });

  test('an expired access token is renewed without the user noticing', async () => {
    // The server rejects the first /auth/me as if the 15-minute access token had expired.
    let rejected = 0;
    await page.route('**/api/v1/auth/me', async (route) => {
      if (rejected === 0) {
        rejected += 1;
        await route.fulfill(UNAUTHORIZED);
      } else {
        await route.continue();
      }
    });
    await navLink(page, 'Account').click();
    await page.getByText('Last login').waitFor(WAIT);
    assert.equal(rejected, 1);
    assert.equal(appPath(page.url()), '/account');
    await page.unroute('**/api/v1/auth/me');
  });

  test('when the session cannot be renewed, signing in again returns to the same page', async () => {
    await navLink(page, 'Dashboard').click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor(WAIT);
    await page.route('**/api/v1/auth/me', (route) => route.fulfill(UNAUTHORIZED));
    await page.route('**/api/v1/auth/refresh', (route) => route.fulfill(UNAUTHORIZED));
    await navLink(page, 'Account').click();
    await page.waitForURL((url) => appPath(url) === '/login', WAIT);
    assert.equal(new URL(page.url()).searchParams.get('next'), '/account');
    await page.unroute('**/api/v1/auth/me');
    await page.unroute('**/api/v1/auth/refresh');

    await waitForLoginForm();
    await logIn('admin', ADMIN_PASSWORD);
    await page.getByText('Last login').waitFor(WAIT);
    assert.equal(appPath(page.url()), '/account');
  });

  test('logging out returns to the login page, and a reload stays there', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL((url) => appPath(url) === '/login', WAIT);
    await waitForLoginForm();
    await screenshot('logged-out-desktop');

    await page.reload();
    await waitForLoginForm();
    assert.equal(appPath(page.url()), '/login');
    assert.equal(await page.getByTestId('current-user').count(), 0);
  });

  test('a deep link while signed out comes back to that page after signing in', async () => {
    await page.goto(`${server.url}/runs?state=failed`);
    await page.waitForURL((url) => appPath(url) === '/login', WAIT);
    assert.equal(new URL(page.url()).searchParams.get('next'), '/runs?state=failed');
    await waitForLoginForm();
    await logIn('admin', ADMIN_PASSWORD);
    await page.getByRole('heading', { name: 'Runs', exact: true }).waitFor(WAIT);
    assert.equal(pathOf(page.url()), '/runs?state=failed');
  });

  test('the app ran under a no-inline-script Content-Security-Policy without violations or errors', () => {
    assert.ok(csp, 'the server sends a Content-Security-Policy');
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /script-src[^;]*'unsafe-inline'/);
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.cspViolations, []);
  });
});
