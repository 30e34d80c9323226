// The forecast view in real Chromium: the real server, the real SPA and the DHIS2 + chap simulator.
// A run of three setups (a dry-run import, so setup 1 fetches chap's thresholds) shows a tab per
// setup; the overview's numbers are the simulator's; sorting and filtering; the chart of the chosen
// org unit (its series, hover and keyboard readout, numbers table) in light and dark, at 1280 and
// 375 px; a second run draws the first one's forecast as the revision; the CSV download; the links
// from the dashboard and the report. Then a national-scale run (1,000 org units) stays usable.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  DESKTOP,
  eventually,
  launchBrowser,
  logIn,
  MOBILE,
  navLink,
  newPage,
  newProblems,
  screenshotBothSizes,
  WAIT,
} from '../lib/browser.mjs';
import { appPath, PUBLIC_PATH, repoRoot, startServer, startSimulator } from '../lib/server.mjs';

const ADMIN_PASSWORD = 'e2e-admin-password-0123';
const QUANTILES = [0.1, 0.25, 0.5, 0.75, 0.9];

/** Signs in through the API; returns the bearer token (the CSV is compared byte for byte). */
async function token(baseUrl) {
  const response = await fetch(`${baseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
  });
  assert.equal(response.status, 200);
  return (await response.json()).access_token;
}

/** GET an API path with the token: JSON, or the text when `text` is set. */
async function get(env, pathname, { text = false } = {}) {
  const response = await fetch(`${env.server.url}/api/v1${pathname}`, {
    headers: { authorization: `Bearer ${env.token}` },
  });
  assert.equal(response.status, 200, `GET ${pathname}`);
  return text ? response.text() : response.json();
}

/** Starts a run of the prediction deployment through the API and waits for it to complete. */
async function completedRun(env, parameters, timeout = 60_000) {
  const response = await fetch(`${env.server.url}/api/v1/deployments/${env.deployment.id}/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${env.token}` },
    body: JSON.stringify({ parameters: { credentials: env.block.id, ...parameters } }),
  });
  assert.equal(response.status, 201, await response.clone().text());
  const { id } = await response.json();
  const run = await eventually(
    async () => {
      const run = await get(env, `/runs/${id}`);
      return ['COMPLETED', 'FAILED', 'CRASHED'].includes(run.state) ? run : null;
    },
    { timeout, what: `run ${id} finished` },
  );
  assert.equal(run.state, 'COMPLETED', JSON.stringify(run.summary));
  return run;
}

/** Starts the simulator and the server, makes the credentials, signs in the browser. */
async function startWorld(simOptions) {
  const env = { problems: newProblems() };
  env.sim = await startSimulator(simOptions);
  env.server = await startServer({
    adminPassword: ADMIN_PASSWORD,
    env: { CHAP_SCHEDULER_PREDICTION_POLL_SECONDS: '0.5' },
  });
  env.token = await token(env.server.url);
  const created = await fetch(`${env.server.url}/api/v1/blocks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${env.token}` },
    body: JSON.stringify({
      name: 'simulated DHIS2',
      block_type: 'dhis2-credentials',
      data: { base_url: env.sim.url, username: env.sim.username, password: env.sim.password },
    }),
  });
  assert.equal(created.status, 201);
  env.block = await created.json();
  env.deployment = (await get(env, '/deployments')).find((d) => d.flow_name === 'dhis2-chap-prediction');
  env.browser = await launchBrowser();
  env.page = await newPage(env.browser, env.problems);
  await logIn(env.page, env.server.url, 'admin', ADMIN_PASSWORD);
  return env;
}

async function stopWorld(env) {
  await env?.browser?.close();
  await env?.server?.stop();
  await env?.sim?.stop();
}

/** What chap (the simulator) predicted: (org unit, period, quantile) → value. */
async function simulatorEntries(sim, predictionId) {
  const query = QUANTILES.map((q) => `quantiles=${q}`).join('&');
  const response = await fetch(`${sim.url}/api/routes/chap/run/v1/analytics/prediction-entry/${predictionId}?${query}`, {
    headers: { authorization: `Basic ${Buffer.from(`${sim.username}:${sim.password}`).toString('base64')}` },
  });
  assert.equal(response.status, 200);
  const entries = new Map();
  for (const e of await response.json()) entries.set(`${e.orgUnit} ${e.period} ${e.quantile}`, e.value);
  return entries;
}

/** The chance above `threshold` from quantile levels and values (the CDF interpolated linearly). */
function chanceAbove(levels, values, threshold) {
  const points = levels.map((l, i) => [l, values[i]]).filter(([, v]) => v !== null);
  if (threshold < points[0][1]) return { bound: '>', p: 1 - points[0][0] };
  if (threshold > points.at(-1)[1]) return { bound: '<', p: 1 - points.at(-1)[0] };
  let below = 0;
  points.forEach(([, v], i) => {
    if (v <= threshold) below = i;
  });
  const [l0, v0] = points[below];
  const next = points[below + 1];
  const cdf = next ? l0 + ((next[0] - l0) * (threshold - v0)) / (next[1] - v0) : l0;
  return { bound: '', p: 1 - cdf };
}

const lastValue = (values) => [...(values ?? [])].reverse().find((v) => v !== null) ?? null;
const close = (a, b, what) => assert.ok(Math.abs(a - b) < 1e-6, `${what}: ${a} ≠ ${b}`);

/** The overview's rows as the page shows them. */
async function overviewRows(page) {
  return page.getByTestId('forecast-overview').locator('tbody tr').evaluateAll((rows) =>
    rows.map((tr) => {
      const cells = [...tr.querySelectorAll('td')];
      const num = (td) => (td?.dataset.value === undefined ? null : Number(td.dataset.value));
      return {
        ou: tr.dataset.ou,
        name: tr.querySelector('th').textContent.trim(),
        lastObserved: num(cells[0]),
        median: num(cells[1]),
        change: num(cells[2]),
        low: cells[3]?.dataset.low === undefined ? null : Number(cells[3].dataset.low),
        high: cells[3]?.dataset.high === undefined ? null : Number(cells[3].dataset.high),
        cells: cells.map((td) => td.textContent.trim()),
        values: cells.map(num),
      };
    }),
  );
}

function tab(page, name) {
  return page.getByRole('tablist', { name: 'Prediction setups' }).getByRole('tab', { name, exact: true });
}

describe('the forecast view', { timeout: 420_000 }, () => {
  let env;
  let first;
  let firstForecasts;
  let second;
  let secondForecasts;

  before(async () => {
    // The weekly setup forecasts 12 weeks; its data set must be open that far for the dry run.
    const demo = JSON.parse(await readFile(path.join(repoRoot, 'e2e/dhis2-sim/scenarios/demo.json'), 'utf8'));
    const data_sets = demo.data_sets.map((d) => (d.period_type === 'week' ? { ...d, open_future_periods: 16 } : d));
    env = await startWorld({ overrides: { data_sets } });
    await env.sim.control({
      job_statuses: { 1: ['PENDING', 'SUCCESS'], 2: ['PENDING', 'SUCCESS'], 3: ['PENDING', 'SUCCESS'] },
    });
  });

  after(async () => {
    assert.deepEqual(env?.problems.pageErrors ?? [], []);
    assert.deepEqual(env?.problems.cspViolations ?? [], []);
    await stopWorld(env);
  });

  test('a run of three setups has a tab each, and the overview shows what chap predicted', async () => {
    const { page, server, sim } = env;
    // Setup 3 is paused in chap; naming the setups runs it too. The dry run fetches thresholds for
    // setup 1 (it has an outbreak indicator target).
    first = await completedRun(env, { prediction_setup_ids: [1, 2, 3], import_to_dhis2: 'dry_run' });
    firstForecasts = (await get(env, `/runs/${first.id}/forecasts`)).map((f) => f.forecast);
    assert.equal(firstForecasts.length, 3);
    const monthly = firstForecasts.find((f) => f.setup_id === 1);
    assert.ok(monthly.thresholds, 'setup 1 fetched thresholds');

    await page.goto(`${server.url}/runs/${first.id}`);
    const tabs = page.getByRole('tablist', { name: 'Prediction setups' }).getByRole('tab');
    await tabs.first().waitFor(WAIT);
    assert.deepEqual(await tabs.allTextContents(), firstForecasts.map((f) => f.setup_name));
    assert.equal(await tabs.first().getAttribute('aria-selected'), 'true');
    // A tab chosen goes into the address.
    const setupInAddress = (id) =>
      eventually(async () => new URL(page.url()).searchParams.get('setup') === String(id), {
        what: `setup ${id} in the address`,
      });
    const other = firstForecasts.find((f) => f.setup_id !== monthly.setup_id);
    await tab(page, other.setup_name).click();
    await setupInAddress(other.setup_id);
    await tab(page, monthly.setup_name).click();
    assert.equal(await tab(page, monthly.setup_name).getAttribute('aria-selected'), 'true');
    await setupInAddress(monthly.setup_id);
    const panel = page.getByRole('tabpanel');
    assert.equal(await panel.getAttribute('aria-labelledby'), await tab(page, monthly.setup_name).getAttribute('id'));

    // Every row's numbers are the API's, and the API's are the simulator's.
    const chap = await simulatorEntries(sim, monthly.prediction_id);
    const next = monthly.forecast_periods[0];
    const rows = await overviewRows(page);
    assert.equal(rows.length, monthly.org_units.length);
    for (const row of rows) {
      const ou = monthly.org_units.find((o) => o.id === row.ou);
      const values = monthly.forecast[row.ou][0];
      assert.equal(row.name, ou.name);
      assert.equal(row.median, values[2]);
      assert.equal(row.median, chap.get(`${row.ou} ${next} 0.5`), `${ou.name}: the simulator's median`);
      assert.equal(row.low, chap.get(`${row.ou} ${next} 0.1`));
      assert.equal(row.high, chap.get(`${row.ou} ${next} 0.9`));
      const last = lastValue(monthly.observed[row.ou]);
      assert.equal(row.lastObserved, last);
      close(row.change, ((values[2] - last) / Math.abs(last)) * 100, `${ou.name} change`);
      const chance = chanceAbove(monthly.quantiles, values, monthly.thresholds[row.ou][0]);
      const shown = row.cells[4];
      const percent = Math.round(chance.p * 100);
      assert.equal(shown, chance.bound ? `${chance.bound} ${percent} %` : `${percent} %`, `${ou.name} chance`);
    }
    // By default the highest chance above the threshold comes first.
    const chances = rows.map((r) => r.values[4]);
    assert.deepEqual(chances, [...chances].sort((a, b) => b - a));
    assert.equal(await page.locator('.chart-heading').textContent(), rows[0].name, 'the chart shows the top row');
    // The headers name the levels and periods they show.
    const headers = await page.getByTestId('forecast-overview').locator('thead th').allTextContents();
    assert.ok(headers.some((h) => h.includes('80 % interval (q0.1–q0.9)')), headers.join(' | '));
    assert.ok(headers.some((h) => h.includes(`Median (${next})`)), headers.join(' | '));
    assert.ok(!headers.some((h) => h.includes('Since last run')), 'no previous run yet');

    // A setup without thresholds says so and has no chance column.
    const weekly = firstForecasts.find((f) => f.setup_id === 2);
    await tab(page, weekly.setup_name).click();
    await page.getByText("No thresholds: the run did not fetch chap's seasonal thresholds").waitFor(WAIT);
    const weeklyHeaders = await page.getByTestId('forecast-overview').locator('thead th').allTextContents();
    assert.ok(!weeklyHeaders.some((h) => h.includes('Above threshold')));
    assert.equal(await page.getByTestId('forecast-overview').locator('tbody tr').count(), weekly.org_units.length);
    const weeks = weekly.forecast_periods.length;
    assert.equal(await page.getByTestId('forecast-chart').locator('circle[data-series="median"]').count(), weeks);
    await screenshotBothSizes(page, 'forecast-weekly');
  });

  test('the overview sorts by a column both ways and filters by name', async () => {
    const { page } = env;
    await tab(page, 'Malaria monthly').click();
    const table = page.getByTestId('forecast-overview');
    const header = (name) => table.locator('thead th', { hasText: name });

    await header('Org unit').getByRole('button').click();
    assert.equal(await header('Org unit').getAttribute('aria-sort'), 'ascending');
    let names = (await overviewRows(page)).map((r) => r.name);
    assert.deepEqual(names, [...names].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase())));
    await header('Org unit').getByRole('button').click();
    assert.equal(await header('Org unit').getAttribute('aria-sort'), 'descending');
    const descending = (await overviewRows(page)).map((r) => r.name);
    assert.deepEqual(descending, [...names].reverse());

    // Numbers sort largest first on the first click; only the sorting column has aria-sort.
    await header('Median').getByRole('button').click();
    assert.equal(await header('Median').getAttribute('aria-sort'), 'descending');
    assert.equal(await header('Org unit').getAttribute('aria-sort'), null);
    const medians = (await overviewRows(page)).map((r) => r.median);
    assert.deepEqual(medians, [...medians].sort((a, b) => b - a));
    await header('Median').getByRole('button').click();
    const ascending = (await overviewRows(page)).map((r) => r.median);
    assert.deepEqual(ascending, [...medians].reverse());
    await page.getByRole('button', { name: 'Back to the default order' }).click();
    assert.equal(await header('Median').getAttribute('aria-sort'), null);

    // The name filter ignores case.
    const filter = page.getByLabel('Filter by name');
    await filter.fill('BO');
    await eventually(async () => (await overviewRows(page)).length === 3, { what: 'three org units named bo' });
    names = (await overviewRows(page)).map((r) => r.name).sort();
    assert.deepEqual(names, ['Bo', 'Bombali', 'Bonthe']);
    assert.match(await page.getByTestId('overview-count').textContent(), /3 of 3 matching org units \(6 in all\)/);
    await filter.fill('nowhere');
    await page.getByTestId('overview-empty').waitFor(WAIT);
    await filter.fill('');
    await eventually(async () => (await overviewRows(page)).length === 6, { what: 'all six again' });
  });

  test("the chart draws the chosen org unit's history, forecast, intervals and threshold, with a readout and its numbers", async () => {
    const { page } = env;
    const monthly = firstForecasts.find((f) => f.setup_id === 1);
    const kenema = monthly.org_units.find((o) => o.name === 'Kenema');
    await page.getByTestId('forecast-overview').locator(`tr[data-ou="${kenema.id}"]`).click();
    await page.locator('.chart-heading', { hasText: 'Kenema' }).waitFor(WAIT);
    assert.equal(
      await page.getByTestId('forecast-overview').locator(`tr[data-ou="${kenema.id}"] button`).getAttribute('aria-pressed'),
      'true',
    );
    const chart = page.getByTestId('forecast-chart');
    const svg = chart.locator('svg');
    assert.equal(await svg.getAttribute('role'), 'img');
    assert.match(await svg.getAttribute('aria-label'), /disease_cases in Kenema: 24 observed periods/);

    const observed = monthly.observed[kenema.id].filter((v) => v !== null).length;
    assert.equal(observed, monthly.observed_periods.length, 'the simulator leaves no gap');
    assert.equal(await svg.locator('circle[data-series="observed"]').count(), observed);
    assert.equal(await svg.locator('path[data-series="observed"]').getAttribute('data-points'), String(observed));
    const periods = monthly.forecast_periods.length;
    assert.equal(await svg.locator('circle[data-series="median"]').count(), periods);
    assert.equal(await svg.locator('path[data-series="median"]').getAttribute('data-points'), String(periods));
    for (const band of ['band80', 'band50']) {
      assert.match(await svg.locator(`path[data-series="${band}"]`).getAttribute('d'), /^M.+Z$/, band);
    }
    const thresholds = monthly.thresholds[kenema.id].filter((v) => v !== null).length;
    assert.ok(thresholds > 0);
    assert.equal(await svg.locator('path[data-series="threshold"]').getAttribute('data-points'), String(thresholds));
    assert.equal(await svg.locator('path[data-series="previous"]').getAttribute('data-points'), '0');
    const legend = await chart.locator('.forecast-legend li').evaluateAll((items) => items.map((li) => li.dataset.series));
    assert.deepEqual(legend, ['observed', 'median', 'band80', 'band50', 'threshold']);

    // Hover shows a period's values.
    const readout = page.getByTestId('chart-readout');
    const firstForecast = monthly.forecast_periods[0];
    const values = monthly.forecast[kenema.id][0];
    const fmt = (v) => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1));
    await svg.locator(`circle[data-period="${firstForecast}"]`).hover();
    await readout.getByText(`${firstForecast}: median forecast`).waitFor(WAIT);
    assert.match(await readout.textContent(), new RegExp(`threshold ${fmt(monthly.thresholds[kenema.id][0]).replace('.', '\\.')}`));
    // Keyboard: one tab stop, arrow keys move along the periods and the readout follows.
    const stop = svg.locator('circle[tabindex="0"]');
    assert.equal(await svg.locator('circle[tabindex="0"]').count(), 1);
    await stop.focus();
    const lastObservedPeriod = monthly.observed_periods.at(-1);
    await page.keyboard.press('ArrowLeft');
    await readout.getByText(`${lastObservedPeriod}: observed`).waitFor(WAIT);
    assert.equal(await page.evaluate(() => document.activeElement.dataset.period), lastObservedPeriod);
    await page.keyboard.press('End');
    const lastPeriod = monthly.forecast_periods.at(-1);
    await readout.getByText(`${lastPeriod}: median forecast`).waitFor(WAIT);
    assert.equal(await page.evaluate(() => document.activeElement.dataset.period), lastPeriod);

    // The numbers table: every period, with the quantiles, the threshold and the observations.
    const numbers = page.getByTestId('forecast-numbers');
    await numbers.locator('summary').click();
    const table = numbers.locator('table');
    await table.waitFor(WAIT);
    assert.equal(await table.locator('tbody tr').count(), monthly.observed_periods.length + periods);
    const headers = await table.locator('thead th').allTextContents();
    assert.deepEqual(headers, ['Period', 'Observed', 'q0.1', 'q0.25', 'q0.5', 'q0.75', 'q0.9', 'Threshold']);
    const cells = async (period) =>
      table.locator(`tr[data-period="${period}"] td`).evaluateAll((tds) => tds.map((td) => (td.dataset.value === undefined ? null : Number(td.dataset.value))));
    assert.deepEqual(await cells(firstForecast), [null, ...values, monthly.thresholds[kenema.id][0]]);
    assert.deepEqual(await cells(lastObservedPeriod), [monthly.observed[kenema.id].at(-1), null, null, null, null, null, null]);

    // A phone draws the last 12 observed periods, so that the forecast keeps some room.
    await page.setViewportSize(MOBILE);
    await eventually(async () => (await svg.locator('circle[data-series="observed"]').count()) === 12, {
      what: 'twelve observed periods at 375 px',
    });
    assert.match(await svg.getAttribute('aria-label'), /the last 12 of 24 observed periods/);
    assert.equal(await svg.locator('circle[data-series="median"]').count(), periods);
    await page.setViewportSize(DESKTOP);
    await eventually(async () => (await svg.locator('circle[data-series="observed"]').count()) === observed, {
      what: 'every observed period again',
    });

    // Light and dark, desktop and phone (no sideways scroll at 375 px).
    await page.locator('#forecast').scrollIntoViewIfNeeded();
    await screenshotBothSizes(page, 'forecast');
    await page.emulateMedia({ colorScheme: 'dark' });
    await screenshotBothSizes(page, 'forecast-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  test('the tabs follow the arrow keys', async () => {
    const { page } = env;
    const names = firstForecasts.map((f) => f.setup_name);
    await tab(page, names[0]).click();
    await tab(page, names[0]).focus();
    await page.keyboard.press('ArrowRight');
    assert.equal(await tab(page, names[1]).getAttribute('aria-selected'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), names[1]);
    await page.keyboard.press('End');
    assert.equal(await tab(page, names[2]).getAttribute('aria-selected'), 'true');
    await page.keyboard.press('ArrowRight');
    assert.equal(await tab(page, names[0]).getAttribute('aria-selected'), 'true', 'wraps around');
    assert.equal(await tab(page, names[1]).getAttribute('tabindex'), '-1', 'one tab stop');
    await eventually(async () => new URL(page.url()).searchParams.get('setup') === String(firstForecasts[0].setup_id), {
      what: 'the address follows the tab',
    });
    // Changing the address does not draw the page again: the focus stays on the tab.
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute('role')), 'tab');
  });

  test("a second run draws the first one's forecast dashed and the change since then", async () => {
    const { page, server } = env;
    second = await completedRun(env, { prediction_setup_ids: [1, 2, 3], import_to_dhis2: 'dry_run' });
    secondForecasts = (await get(env, `/runs/${second.id}/forecasts`)).map((f) => f.forecast);
    for (const f of secondForecasts) assert.equal(f.previous_run_id, first.id);
    const now = secondForecasts.find((f) => f.setup_id === 1);
    const before = firstForecasts.find((f) => f.setup_id === 1);

    await page.goto(`${server.url}/runs/${second.id}?setup=1`);
    await tab(page, 'Malaria monthly').waitFor(WAIT);
    assert.equal(await tab(page, 'Malaria monthly').getAttribute('aria-selected'), 'true', 'the address chose the tab');
    const previousLink = page.getByTestId('previous-forecast').getByRole('link');
    await previousLink.waitFor(WAIT);
    assert.equal(await previousLink.textContent(), first.id.slice(0, 8));
    const table = page.getByTestId('forecast-overview');
    await table.locator('thead th', { hasText: 'Since last run' }).waitFor(WAIT);
    // The previous forecast loads after the page: wait for its numbers.
    await eventually(async () => (await overviewRows(page)).every((r) => r.values[5] !== null), {
      what: 'changes since the last run',
    });
    for (const row of await overviewRows(page)) {
      const was = before.forecast[row.ou][0][2];
      close(row.values[5], ((now.forecast[row.ou][0][2] - was) / Math.abs(was)) * 100, `${row.name} since last run`);
    }
    const svg = page.getByTestId('forecast-chart').locator('svg');
    const previous = svg.locator('path[data-series="previous"]');
    await eventually(async () => (await previous.getAttribute('data-points')) === String(now.forecast_periods.length), {
      what: 'the previous forecast drawn',
    });
    assert.match(await previous.getAttribute('d'), /^M/);
    assert.ok(await page.locator('.forecast-legend li[data-series="previous"]').isVisible());
    const ou = await page.locator('.chart-heading').getAttribute('data-ou');
    await svg.locator(`circle[data-period="${now.forecast_periods[0]}"]`).hover();
    await page.getByTestId('chart-readout').getByText("previous run's median").waitFor(WAIT);
    await page.getByTestId('forecast-numbers').locator('summary').click();
    const headers = await page.getByTestId('forecast-numbers').locator('thead th').allTextContents();
    assert.equal(headers.at(-1), "Previous run's median");
    const lastCell = await page
      .getByTestId('forecast-numbers')
      .locator(`tr[data-period="${now.forecast_periods[0]}"] td`)
      .last()
      .getAttribute('data-value');
    assert.equal(Number(lastCell), before.forecast[ou][0][2]);
    await page.locator('#forecast').scrollIntoViewIfNeeded();
    await screenshotBothSizes(page, 'forecast-revision');
    await page.emulateMedia({ colorScheme: 'dark' });
    await screenshotBothSizes(page, 'forecast-revision-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  test("the CSV download is the API's CSV of that setup", async () => {
    const { page } = env;
    for (const setup of [1, 2]) {
      const name = secondForecasts.find((f) => f.setup_id === setup).setup_name;
      await tab(page, name).click();
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('forecast-csv').click()]);
      assert.equal(download.suggestedFilename(), `forecast-${second.id.slice(0, 8)}-setup-${setup}.csv`);
      const saved = await readFile(await download.path(), 'utf8');
      const expected = await get(env, `/runs/${second.id}/forecasts?format=csv&setup_id=${setup}`, { text: true });
      assert.equal(saved, expected);
      assert.match(saved, /^org_unit_id,org_unit_name,period,quantile,value\n/);
    }
  });

  test("the dashboard's recent forecasts and the report's setup lines lead to the forecast tab", async () => {
    const { page } = env;
    await navLink(page, 'Dashboard').click();
    const item = page.getByTestId('recent-forecasts').locator(`li[data-run-id="${first.id}"]`);
    await item.waitFor(WAIT);
    await item.getByRole('link', { name: 'Forecast' }).click();
    await page.waitForURL((url) => appPath(url) === `/runs/${first.id}` && url.hash === '#forecast', WAIT);
    await page.getByRole('tablist', { name: 'Prediction setups' }).waitFor(WAIT);
    // The panel is scrolled to once it has loaded.
    await eventually(async () => Math.abs(await page.locator('#forecast').evaluate((el) => el.getBoundingClientRect().top)) < 2, {
      what: 'the forecast at the top of the window',
    });

    // The report links each succeeded setup's line to its tab, on the same page.
    const report = page.getByTestId('report');
    const links = report.getByRole('link', { name: 'chart and numbers' });
    await links.first().waitFor({ timeout: 30_000 });
    assert.equal(await links.count(), 3);
    const weekly = firstForecasts.find((f) => f.setup_id === 2);
    const link = report.locator(`a[href="${PUBLIC_PATH}/runs/${first.id}?setup=2#forecast"]`);
    await link.scrollIntoViewIfNeeded();
    await link.click();
    await page.waitForURL((url) => url.searchParams.get('setup') === '2', WAIT);
    await eventually(async () => (await tab(page, weekly.setup_name).getAttribute('aria-selected')) === 'true', {
      what: "the report's setup chosen",
    });
    await eventually(async () => Math.abs(await page.locator('#forecast').evaluate((el) => el.getBoundingClientRect().top)) < 2, {
      what: 'the forecast scrolled to',
    });
    await screenshotBothSizes(page, 'dashboard-recent-forecasts-target');
    await navLink(page, 'Dashboard').click();
    await page.getByTestId('recent-forecasts').waitFor(WAIT);
    await screenshotBothSizes(page, 'dashboard-recent-forecasts');
  });
});

describe('a national-scale forecast (1,000 org units)', { timeout: 300_000 }, () => {
  let env;

  before(async () => {
    env = await startWorld({ scenario: path.join(repoRoot, 'e2e/dhis2-sim/scenarios/national-scale.json') });
  });

  after(async () => {
    assert.deepEqual(env?.problems.pageErrors ?? [], []);
    await stopWorld(env);
  });

  test('shows the first 50 rows, all on request, and filters quickly', async () => {
    const { page, server } = env;
    const run = await completedRun(env, {}, 180_000);
    const [forecast] = (await get(env, `/runs/${run.id}/forecasts`)).map((f) => f.forecast);
    assert.equal(forecast.org_units.length, 1000);
    const started = Date.now();
    await page.goto(`${server.url}/runs/${run.id}#forecast`);
    const rows = page.getByTestId('forecast-overview').locator('tbody tr');
    await rows.first().waitFor({ timeout: 30_000 });
    const shown = Date.now() - started;
    assert.equal(await rows.count(), 50);
    assert.match(await page.getByTestId('overview-count').textContent(), /50 of 1,000 org units/);
    await page.locator('.chart-heading').waitFor(WAIT);
    await screenshotBothSizes(page, 'forecast-national');

    let t = Date.now();
    await page.getByTestId('overview-show-all').click();
    await eventually(async () => (await rows.count()) === 1000, { what: 'every row' });
    const all = Date.now() - t;
    t = Date.now();
    await page.getByTestId('forecast-overview').locator('thead th', { hasText: 'Median' }).getByRole('button').click();
    await page.getByTestId('forecast-overview').locator('thead th[aria-sort="descending"]').waitFor(WAIT);
    const sorted = Date.now() - t;
    const name = forecast.org_units[123].name;
    t = Date.now();
    await page.getByLabel('Filter by name').fill(name);
    await eventually(async () => (await rows.count()) >= 1 && (await rows.count()) < 1000, { what: 'filtered' });
    const filtered = Date.now() - t;
    assert.ok((await rows.allTextContents()).some((text) => text.includes(name)));
    console.log(
      `national forecast: page with 50 rows in ${shown} ms, all 1,000 rows in ${all} ms, sorted in ${sorted} ms, filtered in ${filtered} ms`,
    );
  });
});
