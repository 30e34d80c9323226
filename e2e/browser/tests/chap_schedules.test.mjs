// Schedules that follow chap's prediction setups, in real Chromium against the real server and the
// DHIS2 + chap simulator: add one (only_new_data on by default), see its setups with their next fire
// times on the deployment page and the dashboard, switch a setup and edit its cron in chap from the
// table (refusals at the field, nothing sent for a cron chap would refuse), Sync after a change made
// in chap, a setup's last run, the sync error while chap is down, and what a viewer sees.
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
import { PUBLIC_PATH, startServer, startSimulator } from '../lib/server.mjs';

const ADMIN_PASSWORD = 'e2e-admin-password-0123';
const VIEWER_PASSWORD = 'e2e-viewer-password-0123';
const RUN_WAIT = { timeout: 60_000 };

let sim;
let server;
let browser;
let page;
let api;
let deployment;
let block;
let schedule;
const problems = newProblems();

function fieldError(name) {
  return page.locator(`.schedule-form [data-field="${name}"] .field-error`);
}

function card() {
  return page.locator('.schedule[data-source="chap"]');
}

/** The table row of a setup, by chap's id. */
function row(setupId, on = page) {
  return on.locator(`.setups-table tr[data-setup-id="${setupId}"]`);
}

function cronInput(setupId) {
  return row(setupId).getByRole('textbox', { name: /^Cron of setup/ });
}

function cronError(setupId) {
  return row(setupId).locator('td[data-label="Cron"] .field-error');
}

function switchError(setupId) {
  return row(setupId).locator('td[data-label="Enabled"] .field-error');
}

/** Every PATCH of a prediction setup chap accepted. */
async function setupPatches() {
  return (await fetch(`${sim.url}/__sim/setup-patches`)).json();
}

/** Every PATCH of a prediction setup that reached chap (accepted or not). */
async function patchRequests() {
  const requests = await (await fetch(`${sim.url}/__sim/requests`)).json();
  return requests.filter((r) => r.method === 'PATCH');
}

async function setups() {
  return (await api.get(`/schedules/${schedule.id}/setups`)).body;
}

async function openDeployment() {
  await page.goto(`${server.url}/deployments/${deployment.id}`);
  await row(1).waitFor(WAIT);
}

describe('schedules that follow chap', { timeout: 300_000 }, () => {
  before(async () => {
    sim = await startSimulator();
    server = await startServer({
      adminPassword: ADMIN_PASSWORD,
      // Crons with seconds (test-only), so a setup changed in chap fires within the test.
      env: { CHAP_SCHEDULER_CHAP_CRON_SECONDS: 'true', CHAP_SCHEDULER_PREDICTION_POLL_SECONDS: '0.5' },
    });
    api = await apiLogin(server.url, 'admin', ADMIN_PASSWORD);
    const created = await api.post('/blocks', {
      name: 'demo DHIS2',
      block_type: 'dhis2-credentials',
      data: { base_url: sim.url, username: sim.username, password: sim.password },
    });
    assert.equal(created.status, 201);
    block = created.body;
    deployment = (await api.get('/deployments')).body.find((d) => d.flow_name === 'dhis2-chap-prediction');
    browser = await launchBrowser();
    page = await newPage(browser, problems);
    await logIn(page, server.url, 'admin', ADMIN_PASSWORD);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await sim?.stop();
  });

  test('a schedule that follows chap is added with only_new_data on, and lists the setups with their next runs', async () => {
    await page.goto(`${server.url}/deployments/${deployment.id}`);
    await page.getByRole('button', { name: 'Add schedule' }).click();
    const onlyNew = page.locator('#schedule-param-only_new_data');
    await onlyNew.waitFor(WAIT);
    assert.equal(await onlyNew.inputValue(), '', 'an own schedule leaves only_new_data to the deployment (false)');

    await page.getByLabel("Follow chap's prediction setups").check();
    assert.equal(await onlyNew.inputValue(), 'true');
    // Each run of a chap schedule is one setup: the setup ids are not the schedule's to pin.
    assert.equal(await page.getByLabel('Prediction setup id', { exact: true }).isVisible(), false);
    assert.equal(await page.getByLabel('Cron expression').isVisible(), false);
    assert.equal(await page.getByLabel('At a fixed interval').isVisible(), false);
    await page.getByLabel(/^Fallback cron/).waitFor(WAIT);
    await page.getByTestId('schedule-preview').getByText("Each setup's next runs are listed").waitFor(WAIT);
    // Back and forth: the default follows the source while untouched.
    await page.getByLabel('Its own timing').check();
    assert.equal(await onlyNew.inputValue(), '');
    assert.equal(await page.getByLabel('Cron expression').isVisible(), true);
    assert.equal(await page.getByLabel('Prediction setup id', { exact: true }).isVisible(), true);
    await page.getByLabel("Follow chap's prediction setups").check();
    assert.equal(await onlyNew.inputValue(), 'true');

    await page.getByLabel('Timezone').fill('Africa/Nairobi');
    await screenshotBothSizes(page, 'chap-schedule-form');
    await page.getByRole('button', { name: 'Save schedule' }).click();
    await fieldError('credentials').getByText('Required.').waitFor(WAIT);
    assert.deepEqual((await api.get(`/deployments/${deployment.id}/schedules`)).body, []);

    await page.locator('#schedule-param-credentials').selectOption({ label: 'demo DHIS2' });
    await page.getByRole('button', { name: 'Save schedule' }).click();
    await card().waitFor(WAIT);
    [schedule] = (await api.get(`/deployments/${deployment.id}/schedules`)).body;
    assert.equal(schedule.source, 'chap');
    assert.equal(schedule.cron, null);
    assert.equal(schedule.interval_seconds, null);
    assert.equal(schedule.timezone, 'Africa/Nairobi');
    assert.deepEqual(schedule.parameters, { credentials: block.id, only_new_data: true });

    await card().locator('.schedule-timing', { hasText: "Follows chap's setups" }).waitFor(WAIT);
    await card().getByTestId('sync-state').getByText(/^Synced with chap \d{4}-/).waitFor(WAIT);
    assert.equal(await card().getByTestId('sync-error').count(), 0);
    // The demo chap: setup 1 weekly at 06:00, setup 2 enabled without a cron, setup 3 disabled.
    await row(1).getByTestId('setup-status').getByText('fires', { exact: true }).waitFor(WAIT);
    await row(2).getByTestId('setup-status').getByText('enabled, no cron').waitFor(WAIT);
    await row(3).getByTestId('setup-status').getByText('disabled in chap').waitFor(WAIT);
    assert.match(await row(1).locator('th').textContent(), /#1\s+Malaria monthly/);
    assert.match(await row(1).getByTestId('next-setup-fire').textContent(), /^Mon \d{4}-\d\d-\d\d 06:00 /);
    // 06:00 in Nairobi is 03:00 UTC.
    assert.match(await row(1).getByTestId('next-setup-fire').locator('time').getAttribute('datetime'), /T03:00:00/);
    await row(1).getByText('4 more').click();
    assert.equal(await row(1).locator('.more-times li').count(), 4);
    assert.equal(await row(2).getByTestId('next-setup-fire').count(), 0);
    assert.equal(await cronInput(1).inputValue(), '0 6 * * 1');
    assert.equal(await row(1).getByRole('switch').isChecked(), true);
    assert.equal(await row(3).getByRole('switch').isChecked(), false);
    assert.match(await card().getByTestId('next-fire').textContent(), /Mon .* 06:00 .* 03:00:00\sUTC/);
    await screenshotBothSizes(page, 'chap-schedule');
  });

  test('the dashboard lists the next slots of the setups', async () => {
    await navLink(page, 'Dashboard').click();
    const upcoming = page.getByTestId('upcoming').locator('li');
    await upcoming.first().waitFor(WAIT);
    // Only setup 1 fires.
    assert.equal(await upcoming.count(), 1);
    assert.match(
      await upcoming.first().textContent(),
      new RegExp(`^${deployment.name} — setup Malaria monthly · Mon \\S+ 06:00 .*in [^·]+ · Follows chap's setups$`),
    );
    await screenshotBothSizes(page, 'dashboard-chap-upcoming');
  });

  test('editing keeps the source and sets a fallback cron for setups enabled without one', async () => {
    await openDeployment();
    await card().getByRole('button', { name: /^Edit schedule/ }).click();
    const chapChoice = page.getByLabel("Follow chap's prediction setups");
    await chapChoice.waitFor(WAIT);
    assert.equal(await chapChoice.isChecked(), true);
    assert.equal(await chapChoice.isDisabled(), true);
    assert.equal(await page.getByLabel('Its own timing').isDisabled(), true);
    await page.getByText('it cannot be changed').waitFor(WAIT);
    assert.equal(await page.locator('#schedule-param-only_new_data').inputValue(), 'true');

    const fallback = page.getByLabel(/^Fallback cron/);
    await fallback.fill('0 5 * *');
    await fieldError('fallback_cron').getByText(/cron/i).waitFor(WAIT);
    await fallback.fill('0 5 * * *');
    await eventually(async () => (await page.getByTestId('schedule-preview').locator('li').count()) === 5, {
      what: 'the fallback previewed',
    });
    assert.match(await page.getByTestId('schedule-preview').locator('li').first().textContent(), / 05:00 \(\+03:00\)/);
    await page.getByRole('button', { name: 'Save schedule' }).click();
    await card().getByTestId('fallback-cron').getByText('0 5 * * *').waitFor(WAIT);
    await row(2).getByTestId('setup-status').getByText('fires (at the fallback cron)').waitFor(WAIT);
    await row(2).getByText('fallback: 0 5 * * *').waitFor(WAIT);
    const stored = (await api.get(`/schedules/${schedule.id}`)).body;
    assert.equal(stored.source, 'chap');
    assert.equal(stored.fallback_cron, '0 5 * * *');
    assert.equal(stored.id, schedule.id);
    assert.equal((await setupPatches()).length, 0, 'editing the schedule writes nothing to chap');
  });

  test("an operator switches a setup's schedule on and off in chap", async () => {
    await row(3).getByRole('switch').click();
    await row(3).getByTestId('setup-status').getByText('fires', { exact: true }).waitFor(WAIT);
    assert.equal(await row(3).getByRole('switch').isChecked(), true);
    await row(3).getByTestId('next-setup-fire').waitFor(WAIT);
    let patches = await setupPatches();
    assert.equal(patches.length, 1);
    assert.equal(patches[0].setup_id, 3);
    assert.equal(patches[0].body.scheduleEnabled, true);
    assert.equal(patches[0].body.scheduleCronExpression, '0 6 1 * *');

    await row(3).getByRole('switch').click();
    await row(3).getByTestId('setup-status').getByText('disabled in chap').waitFor(WAIT);
    patches = await setupPatches();
    assert.equal(patches.length, 2);
    assert.equal(patches[1].body.scheduleEnabled, false);
    const audit = (await api.get('/audit?action=schedule.setup_updated')).body.items;
    assert.equal(audit.length, 2);
  });

  test('a cron chap would refuse is refused at its field and nothing is sent', async () => {
    const patchesBefore = (await patchRequests()).length;
    await cronInput(1).fill('0 6 * *');
    await row(1).getByRole('button', { name: /^Save/ }).click();
    await cronError(1).getByText(/exactly 5 fields.*this has 4/).waitFor(WAIT);
    assert.equal(await cronInput(1).getAttribute('aria-invalid'), 'true');

    // Five fields, but not a cron: our server refuses it before asking chap.
    await cronInput(1).fill('61 * * * *');
    await row(1).getByRole('button', { name: /^Save/ }).click();
    await cronError(1).getByText(/cron/i).waitFor(WAIT);
    await eventually(async () => !/this has 4/.test(await cronError(1).textContent()), { what: "the server's message" });
    await screenshotBothSizes(page, 'chap-setup-cron-error');

    // Switching on a setup without a cron: refused (chap would), said at the cron, the switch stays off.
    await row(2).getByRole('switch').click();
    await row(2).getByTestId('setup-status').getByText('disabled in chap').waitFor(WAIT);
    const afterOff = (await patchRequests()).length;
    assert.equal(afterOff, patchesBefore + 1, 'only switching setup 2 off reached chap');
    // Setup 2 has no cron of its own in chap.
    assert.equal((await setupPatches()).at(-1).body.scheduleCronExpression, null);
    await row(2).getByRole('switch').click();
    await cronError(2).getByText(/without a cron/).waitFor(WAIT);
    assert.equal(await row(2).getByRole('switch').isChecked(), false);
    assert.equal((await patchRequests()).length, afterOff, 'nothing more was sent to chap');

    // chap's own refusal, shown at the field.
    await sim.control({
      fault: {
        group: 'prediction_setups',
        method: 'PATCH',
        status: 422,
        next: 1,
        body: JSON.stringify({ detail: [{ loc: ['body', 'scheduleCronExpression'], msg: 'Value error, not on Sundays', type: 'value_error' }] }),
      },
    });
    await cronInput(1).fill('30 7 * * 0');
    await row(1).getByRole('button', { name: /^Save/ }).click();
    await cronError(1).getByText('chap refused it: Value error, not on Sundays').waitFor(WAIT);
    assert.equal((await setups()).setups.find((s) => s.id === 1).cron, '0 6 * * 1', 'chap kept the cron');

    // A cron chap takes: saved, synced, the next runs follow it.
    await cronInput(1).fill('30 7 * * 1');
    await row(1).getByRole('button', { name: /^Save/ }).click();
    await eventually(async () => (await cronError(1).textContent()) === '', { what: 'the error cleared' });
    await eventually(async () => / 07:30 /.test(await row(1).getByTestId('next-setup-fire').textContent()), {
      what: 'the next run at 07:30',
    });
    const last = (await setupPatches()).at(-1);
    assert.equal(last.setup_id, 1);
    assert.equal(last.body.scheduleCronExpression, '30 7 * * 1');
    assert.equal(last.body.scheduleEnabled, true);
    assert.equal(await cronInput(1).inputValue(), '30 7 * * 1');
  });

  test('Sync reads a change made in chap, and a fired setup shows its last run', async () => {
    // A cron being typed (not saved) survives the setups being read again.
    await cronInput(3).fill('15 4 * * *');
    // As if changed in chap's modeling app: setup 2 on, every 15 s (seconds are a test-only setting).
    await sim.control({ setup_schedules: { 2: { enabled: true, cron: '*/15 * * * * *' } } });
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/schedules/${schedule.id}/sync`)),
      card().getByRole('button', { name: 'Sync with chap' }).click(),
    ]);
    await row(2).getByTestId('setup-status').getByText('fires', { exact: true }).waitFor(WAIT);
    assert.equal(await cronInput(2).inputValue(), '*/15 * * * * *');
    assert.equal(await cronInput(3).inputValue(), '15 4 * * *');
    await cronInput(3).fill('0 6 1 * *');
    assert.equal(await row(2).getByRole('switch').isChecked(), true);
    const times = await row(2).locator('time').evaluateAll((els) => els.map((e) => Date.parse(e.getAttribute('datetime'))));
    assert.equal(times.length, 5);
    assert.ok(times.slice(1).every((t, i) => t - times[i] === 15_000), 'every 15 s');

    const fired = await eventually(
      async () => (await setups()).setups.find((s) => s.id === 2).last_run,
      { ...RUN_WAIT, what: 'a run of setup 2' },
    );
    const run = (await api.get(`/runs/${fired.id}`)).body;
    assert.deepEqual(run.parameters.prediction_setup_ids, [2]);
    await eventually(async () => (await api.get(`/runs/${fired.id}`)).body.ended_at, { ...RUN_WAIT, what: 'the run ended' });
    // Stop it firing before looking (chap's modeling app again), then refresh with Sync.
    await sim.control({ setup_schedules: { 2: { enabled: false, cron: null } } });
    await card().getByRole('button', { name: 'Sync with chap' }).click();
    await row(2).getByTestId('setup-status').getByText('disabled in chap').waitFor(WAIT);
    // A slot may have fired just before: wait for the setup's last run to end, then read again.
    const shown = await eventually(
      async () => {
        const run = (await setups()).setups.find((s) => s.id === 2).last_run;
        return run?.setup_status ? run : null;
      },
      { ...RUN_WAIT, what: "the last run's outcome" },
    );
    await card().getByRole('button', { name: 'Sync with chap' }).click();
    const lastRun = row(2).locator('td[data-label="Last run"]');
    await lastRun.getByTestId('setup-outcome').getByText(`setup ${shown.setup_status}`).waitFor(WAIT);
    await lastRun.locator('.state-badge').waitFor(WAIT);
    assert.equal(await lastRun.locator('a').getAttribute('href'), `${PUBLIC_PATH}/runs/${shown.id}`);
    // The schedule's own last run is its setups' latest.
    assert.match(await card().getByTestId('last-fire').textContent(), /^\w{3} \d{4}-\d\d-\d\d \d\d:\d\d /);
    await lastRun.locator('a').click();
    await page.waitForURL(`**/runs/${shown.id}`, WAIT);
  });

  test('while chap is down the sync error is shown, the last known setups stay, and a switch says why it failed', async () => {
    await openDeployment();
    await sim.control({ chap_down: 503 });
    await card().getByRole('button', { name: 'Sync with chap' }).click();
    const error = card().getByTestId('sync-error');
    await error.waitFor(RUN_WAIT);
    assert.match(await error.textContent(), /^The last sync with chap failed \(\d{4}-.*\): ./);
    assert.equal(await error.getAttribute('role'), 'alert');
    await card().getByTestId('sync-state').getByText(/as chap listed them at the last successful sync/).waitFor(WAIT);
    assert.equal(await page.locator('.setups-table tbody tr').count(), 3);
    const view = await setups();
    assert.ok(view.sync.error);
    assert.ok(Date.parse(view.sync.attempted_at) > Date.parse(view.sync.synced_at));
    await screenshotBothSizes(page, 'chap-schedule-sync-error');

    await row(3).getByRole('switch').click();
    await switchError(3).getByText(/chap/).waitFor(RUN_WAIT);
    assert.equal(await row(3).getByRole('switch').isChecked(), false);

    await sim.control({ chap_down: null });
    await card().getByRole('button', { name: 'Sync with chap' }).click();
    await eventually(async () => (await card().getByTestId('sync-error').count()) === 0, { what: 'the error gone' });
    await card().getByTestId('sync-state').getByText(/^Synced with chap/).waitFor(WAIT);
  });

  test('a viewer sees the setups but cannot switch, edit or sync them', async () => {
    assert.equal((await api.post('/users', { username: 'vic', password: VIEWER_PASSWORD, role: 'viewer' })).status, 201);
    const viewer = await newPage(browser, problems);
    await logIn(viewer, server.url, 'vic', VIEWER_PASSWORD);
    await viewer.goto(`${server.url}/deployments/${deployment.id}`);
    await row(1, viewer).waitFor(WAIT);
    assert.equal(await viewer.getByRole('switch').count(), 0);
    assert.equal(await viewer.getByRole('button', { name: 'Sync with chap' }).count(), 0);
    assert.equal(await viewer.getByRole('button', { name: /^Save/ }).count(), 0);
    assert.equal(await viewer.locator('.setups-table input').count(), 0);
    assert.equal(await row(1, viewer).locator('td[data-label="Cron"] code').textContent(), '30 7 * * 1');
    assert.equal(await row(1, viewer).locator('td[data-label="Enabled"]').innerText(), 'yes');
    assert.equal(await row(3, viewer).locator('td[data-label="Enabled"]').innerText(), 'no');
    await row(1, viewer).getByTestId('next-setup-fire').waitFor(WAIT);
    await viewer.context().close();
  });

  test('no page errors and no CSP violations', () => {
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.cspViolations, []);
  });
});
