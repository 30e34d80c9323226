// The web UI's lazy pages in real Chromium: the first load of the dashboard fetches only the main wasm
// module; a page of another group fetches its group's module the first time it is shown (and not
// again: the hashed names are cached for good); a module that cannot be fetched leaves an error on that page only — the shell keeps working —
// and the next navigation to it retries; a deep link to a lazy page loads its module directly.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, logIn, navLink, newPage, newProblems, WAIT } from '../lib/browser.mjs';
import { startServer } from '../lib/server.mjs';

const ADMIN_PASSWORD = 'e2e-admin-password-0123';

let server;
let browser;
let page;
const problems = newProblems();
/** The wasm modules the page fetched, by file name, in order. */
const fetched = [];

before(async () => {
  server = await startServer({ adminPassword: ADMIN_PASSWORD });
  browser = await launchBrowser();
  page = await newPage(browser, problems);
  page.on('request', (request) => {
    const file = new URL(request.url()).pathname.split('/').pop();
    if (file.endsWith('.wasm')) fetched.push(file);
  });
  await logIn(page, server.url, 'admin', ADMIN_PASSWORD);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const lazyModules = () => fetched.filter((f) => /^(split_|chunk_)/.test(f));

describe('lazy pages', () => {
  test('the dashboard loads with the main module only', async () => {
    fetched.length = 0;
    await page.goto(`${server.url}/`);
    await page.getByTestId('runs-chart').waitFor(WAIT);
    assert.deepEqual(fetched, ['app_bg.wasm']);
  });

  test('a page of the runs group fetches its module once', async () => {
    fetched.length = 0;
    await navLink(page, 'Runs').click();
    await page.getByRole('heading', { name: 'Runs', level: 1 }).waitFor(WAIT);
    assert.ok(lazyModules().some((f) => /^split_runs-[0-9a-f]{10}\.wasm$/.test(f)), `fetched: ${fetched}`);
    assert.ok(!lazyModules().some((f) => /split_(admin|setup)/.test(f)), `fetched: ${fetched}`);
    await navLink(page, 'Dashboard').click();
    await page.getByTestId('runs-chart').waitFor(WAIT);
    const before = fetched.length;
    await navLink(page, 'Runs').click();
    await page.getByRole('heading', { name: 'Runs', level: 1 }).waitFor(WAIT);
    assert.equal(fetched.length, before, `fetched again: ${fetched.slice(before)}`);
  });

  test('a module that cannot be fetched fails its page only, and the next visit retries', async () => {
    await page.route('**/split_admin-*.wasm', (route) => route.abort('connectionreset'));
    await navLink(page, 'Users').click();
    await page.getByRole('alert').filter({ hasText: 'This page could not be loaded' }).waitFor(WAIT);
    // The app is alive: the shell still navigates.
    await navLink(page, 'Dashboard').click();
    await page.getByTestId('runs-chart').waitFor(WAIT);
    await page.unroute('**/split_admin-*.wasm');
    await navLink(page, 'Users').click();
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor(WAIT);
    assert.equal(problems.pageErrors.length, 0, problems.pageErrors.join('\n'));
  });

  test('a deep link to a lazy page loads its module directly', async () => {
    fetched.length = 0;
    await page.goto(`${server.url}/admin/audit`);
    await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor(WAIT);
    assert.equal(fetched[0], 'app_bg.wasm');
    assert.ok(fetched.some((f) => f.startsWith('split_admin-')), `fetched: ${fetched}`);
    assert.equal(problems.pageErrors.length, 0, problems.pageErrors.join('\n'));
    assert.equal(problems.cspViolations.length, 0, problems.cspViolations.join('\n'));
  });
});
