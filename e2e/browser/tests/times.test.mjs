// Times in real Chromium running in Asia/Kathmandu (+05:45, no daylight saving time): instants shown
// on the browser's clock in a <time> whose tooltip is the UTC time, "Show times in UTC" in the header
// switching every time at once (and kept across a reload), and day inputs (the runs list's days, a
// token's expiry) read on the same clock, their labels saying which.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  apiLogin,
  eventually,
  launchBrowser,
  logIn,
  navLink,
  newPage,
  newProblems,
  screenshotBothSizes,
  WAIT,
} from '../lib/browser.mjs';
import { appPath, startServer, startSimulator } from '../lib/server.mjs';

const ADMIN_PASSWORD = 'e2e-admin-password-0123';
const ZONE = 'Asia/Kathmandu';
const ZONE_NAME = 'GMT+5:45';
const OFFSET_MS = (5 * 60 + 45) * 60_000;
const NBSP = '\u00a0';

/** `2026-12-02 14:03:09`: an instant on a clock `offsetMs` ahead of UTC. */
function wallClock(iso, offsetMs) {
  const shifted = new Date(Date.parse(iso) + offsetMs).toISOString();
  return `${shifted.slice(0, 10)} ${shifted.slice(11, 19)}`;
}
const kathmandu = (iso) => wallClock(iso, OFFSET_MS);
const utc = (iso) => wallClock(iso, 0);
/** The day it is now in Kathmandu, shifted by `days`. */
const kathmanduDay = (days = 0) => new Date(Date.now() + OFFSET_MS + days * 86_400_000).toISOString().slice(0, 10);
/** The UTC instant (RFC 3339, seconds) of `day`'s midnight on a clock `offsetMs` ahead of UTC. */
const midnight = (day, offsetMs) => new Date(Date.parse(`${day}T00:00:00Z`) - offsetMs).toISOString().replace('.000Z', 'Z');

let sim;
let server;
let browser;
let page;
let api;
let run;
let line;
const problems = newProblems();

/** The <time> of the run page's "Expected start". */
function expectedStart() {
  return page.locator('dl.facts dt', { hasText: 'Expected start' }).locator('xpath=following-sibling::dd[1]//time');
}

function firstLogTime() {
  return page.getByTestId('log-lines').locator('li').first().locator('time');
}

function runRowTime() {
  return page.locator(`tr[data-run-id="${run.id}"] time`);
}

describe('times on the viewer\'s clock', { timeout: 300_000 }, () => {
  before(async () => {
    sim = await startSimulator();
    server = await startServer({
      adminPassword: ADMIN_PASSWORD,
      env: { CHAP_SCHEDULER_PREDICTION_POLL_SECONDS: '0.5' },
    });
    api = await apiLogin(server.url, 'admin', ADMIN_PASSWORD);
    const block = (
      await api.post('/blocks', {
        name: 'demo DHIS2',
        block_type: 'dhis2-credentials',
        data: { base_url: sim.url, username: sim.username, password: sim.password },
      })
    ).body;
    const deployment = (await api.get('/deployments')).body.find((d) => d.flow_name === 'dhis2-chap-prediction');
    await sim.control({ job_statuses: { 1: ['PENDING', 'SUCCESS'] } });
    const triggered = await api.post(`/deployments/${deployment.id}/runs`, {
      parameters: { credentials: block.id, prediction_setup_id: 1 },
    });
    assert.equal(triggered.status, 201);
    run = await eventually(
      async () => {
        const now = (await api.get(`/runs/${triggered.body.id}`)).body;
        return now.state === 'COMPLETED' && now;
      },
      { timeout: 30_000, what: 'the run completed' },
    );
    line = (await api.get(`/runs/${run.id}/logs?limit=1`)).body.items[0];
    browser = await launchBrowser();
    page = await newPage(browser, problems, { timezoneId: ZONE, locale: 'en-GB' });
    await logIn(page, server.url, 'admin', ADMIN_PASSWORD);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await sim?.stop();
  });

  test('a run page shows its times on the browser\'s clock, with the UTC time on hover', async () => {
    // Chromium's ICU still calls it by its old name.
    assert.match(await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone), /^Asia\/Kath?mandu$/);
    await page.goto(`${server.url}/runs/${run.id}`);
    await page.locator('h1 [data-state="COMPLETED"]').waitFor(WAIT);
    const start = expectedStart();
    // Where a time stands alone it names its zone.
    assert.equal(await start.textContent(), `${kathmandu(run.expected_start_at)}${NBSP}${ZONE_NAME}`);
    assert.equal(await start.getAttribute('title'), `${utc(run.expected_start_at)} UTC`);
    assert.equal(await start.getAttribute('datetime'), `${run.expected_start_at.slice(0, 19)}Z`);
    // A log line shows the time of day.
    await firstLogTime().waitFor(WAIT);
    assert.equal(await firstLogTime().textContent(), kathmandu(line.at).slice(11));
    assert.equal(await firstLogTime().getAttribute('title'), `${utc(line.at)} UTC`);
    // Every time on the page: on the browser's clock, to the minute or the second, UTC on hover.
    const times = await page.locator('main time').evaluateAll((els) =>
      els.map((e) => ({ datetime: e.getAttribute('datetime'), title: e.title, text: e.textContent })),
    );
    assert.ok(times.length > 5, `${times.length} times on the page`);
    for (const { datetime, title, text } of times) {
      assert.equal(title, `${utc(datetime)} UTC`);
      const full = `${kathmandu(datetime)}${NBSP}${ZONE_NAME}`;
      assert.ok(full.includes(text), `${text} is ${datetime} in Kathmandu`);
    }
    assert.equal(await page.getByLabel('Show times in UTC').isChecked(), false);
    await screenshotBothSizes(page, 'times-run-local');
  });

  test('"Show times in UTC" switches every time at once, and the choice survives a reload', async () => {
    await page.getByLabel('Show times in UTC').check();
    const start = expectedStart();
    await eventually(async () => (await start.textContent()) === `${utc(run.expected_start_at)}${NBSP}UTC`, {
      what: 'the expected start in UTC',
    });
    // The tooltip then gives the viewer's own time.
    assert.equal(await start.getAttribute('title'), `${kathmandu(run.expected_start_at)} ${ZONE_NAME} (your time)`);
    assert.equal(await firstLogTime().textContent(), utc(line.at).slice(11));
    await screenshotBothSizes(page, 'times-run-utc');

    await page.reload();
    await page.locator('h1 [data-state="COMPLETED"]').waitFor(WAIT);
    assert.equal(await page.getByLabel('Show times in UTC').isChecked(), true);
    assert.equal(await expectedStart().textContent(), `${utc(run.expected_start_at)}${NBSP}UTC`);

    await navLink(page, 'Runs').click();
    await runRowTime().waitFor(WAIT);
    assert.equal(await runRowTime().textContent(), utc(run.expected_start_at));
    await page.getByLabel('Show times in UTC').uncheck();
    await eventually(async () => (await runRowTime().textContent()) === kathmandu(run.expected_start_at), {
      what: 'the list back on the browser\'s clock',
    });
    assert.equal(await runRowTime().getAttribute('title'), `${utc(run.expected_start_at)} UTC`);
  });

  test('the runs list reads its days on the viewer\'s clock and says which', async () => {
    const asked = [];
    const listen = (request) => {
      const url = new URL(request.url());
      if (appPath(url) === '/api/v1/runs' && url.searchParams.has('since')) asked.push(url.searchParams);
    };
    page.on('request', listen);
    const today = kathmanduDay();
    await page.getByLabel(`From (${ZONE_NAME})`).fill(today);
    await eventually(() => asked.length > 0, { what: 'the list asked again' });
    // Kathmandu's midnight is 18:15 UTC the day before.
    assert.equal(asked.at(-1).get('since'), midnight(today, OFFSET_MS));
    await runRowTime().waitFor(WAIT);

    await page.getByLabel('Show times in UTC').check();
    await page.getByLabel('From (UTC)').waitFor(WAIT);
    await eventually(() => asked.at(-1).get('since') === midnight(today, 0), { what: 'the same day, from UTC midnight' });
    await page.getByLabel('Show times in UTC').uncheck();
    page.off('request', listen);
    await page.getByLabel(`From (${ZONE_NAME})`).fill('');
  });

  test('a token expiring on a day works until the end of that day on the viewer\'s clock', async () => {
    await navLink(page, 'API tokens').click();
    await page.getByRole('button', { name: 'New token', exact: true }).click();
    await page.locator('#token-name').fill('nightly export');
    const day = kathmanduDay(30);
    await page.locator('#token-expires').fill(day);
    await page.getByText(`The token works until the end of this day (${ZONE_NAME}).`).waitFor(WAIT);
    await page.getByTestId('new-token').getByRole('button', { name: 'Create token', exact: true }).click();
    await page.getByTestId('token-secret-box').waitFor(WAIT);
    const token = (await api.get('/tokens')).body.items.find((t) => t.name === 'nightly export');
    const nextMidnight = Date.parse(midnight(kathmanduDay(31), OFFSET_MS));
    assert.equal(Date.parse(token.expires_at), nextMidnight - 1_000);
  });

  test('the audit log says which clock its times are on', async () => {
    await navLink(page, 'Audit log').click();
    await page.getByRole('columnheader', { name: `Time (${ZONE_NAME})` }).waitFor(WAIT);
    const first = page.getByTestId('audit-table').locator('tbody tr').first().locator('time');
    assert.match(await first.getAttribute('title'), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    assert.equal(await first.textContent(), kathmandu(await first.getAttribute('datetime')));
    await page.getByText(`Last day (${ZONE_NAME}), included.`).waitFor(WAIT);
  });

  test('no page errors and no CSP violations', () => {
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.cspViolations, []);
  });
});
