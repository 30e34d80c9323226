// What every browser test needs: Debian's Chromium, pages that record their errors, signing in,
// screenshots at desktop and phone width, and a small client for the API.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { repoRoot } from './server.mjs';

export const OUTPUT_DIR = path.join(repoRoot, 'e2e/browser/output');
export const DESKTOP = { width: 1280, height: 800 };
export const MOBILE = { width: 375, height: 740 };
export const WAIT = { timeout: 15_000 };

/** Debian's Chromium, headless, with the flags this machine's closed network needs. */
export async function launchBrowser() {
  await mkdir(OUTPUT_DIR, { recursive: true });
  return chromium.launch({
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
}

/**
 * A page in a fresh context (its own cookies) that records uncaught errors, CSP violations, failed
 * responses and console lines into `problems`.
 */
export async function newPage(browser, problems, contextOptions = {}) {
  const context = await browser.newContext({ viewport: DESKTOP, ...contextOptions });
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.pageErrors.push(error.message));
  page.on('console', (message) => {
    problems.console.push(`[${message.type()}] ${message.text()}`);
    if (/Content.Security.Policy/i.test(message.text())) problems.cspViolations.push(message.text());
  });
  page.on('response', (response) => {
    if (response.status() >= 400) {
      problems.console.push(`[http ${response.status()}] ${response.request().method()} ${response.url()}`);
    }
  });
  return page;
}

/** The sinks `newPage` writes into. */
export function newProblems() {
  return { pageErrors: [], cspViolations: [], console: [] };
}

/** The visible form controls of the page that have no accessible name (label, aria-label or -labelledby). */
export async function unlabelledControls(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => el.type !== 'hidden' && el.getClientRects().length > 0)
      .filter((el) => !el.labels?.length && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
      .map((el) => el.outerHTML.slice(0, 120)),
  );
}

/**
 * Screenshots the page at desktop and at 375 px, and checks that the phone view does not scroll
 * sideways and that every visible input has a label.
 */
export async function screenshotBothSizes(page, name) {
  assert.deepEqual(await unlabelledControls(page), [], `${name} has inputs without a label`);
  await page.screenshot({ path: path.join(OUTPUT_DIR, `${name}-desktop.png`), fullPage: true });
  const viewport = page.viewportSize() ?? DESKTOP;
  await page.setViewportSize(MOBILE);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await page.screenshot({ path: path.join(OUTPUT_DIR, `${name}-375.png`), fullPage: true });
  await page.setViewportSize(viewport);
  assert.ok(overflow <= 0, `${name} scrolls sideways at 375 px (by ${overflow} px)`);
}

/** Signs in through the login form and waits for the app's header. */
export async function logIn(page, baseUrl, username, password) {
  await page.goto(`${baseUrl}/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('current-user').waitFor(WAIT);
}

/** A link of the main navigation. */
export function navLink(page, name) {
  return page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
}

/** An API client with a bearer token: `await api.post('/blocks', {...})` → `{ status, body }`. */
export function apiClient(baseUrl, token) {
  const call = async (method, pathname, body) => {
    const response = await fetch(`${baseUrl}/api/v1${pathname}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json().catch(() => null) };
  };
  return {
    get: (p) => call('GET', p),
    post: (p, body) => call('POST', p, body),
    patch: (p, body) => call('PATCH', p, body),
    delete: (p) => call('DELETE', p),
  };
}

/** Signs in through the API and returns a client with the access token. */
export async function apiLogin(baseUrl, username, password) {
  const response = await fetch(`${baseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  assert.equal(response.status, 200, `API login of ${username}`);
  return apiClient(baseUrl, (await response.json()).access_token);
}

/** Polls `probe` until it returns a truthy value (or fails after `timeout` ms). */
export async function eventually(probe, { timeout = 20_000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not hold within ${timeout / 1000} s (last: ${JSON.stringify(last)})`);
}
