// Schedules in real Chromium against the real server: add a cron schedule in a timezone with its
// next runs previewed as it is typed, pin the credentials, toggle it, turn it into an interval
// schedule, see it on the dashboard, and delete it after confirming.
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
import { startServer } from '../lib/server.mjs';

const ADMIN_PASSWORD = 'e2e-admin-password-0123';

let server;
let browser;
let page;
let api;
let deployment;
let block;
let scheduleId;
const problems = newProblems();

function fieldError(name) {
  return page.locator(`.schedule-form [data-field="${name}"] .field-error`);
}

function previewItems() {
  return page.getByTestId('schedule-preview').locator('li');
}

function card() {
  return page.locator('.schedule').first();
}

async function schedules() {
  return (await api.get(`/deployments/${deployment.id}/schedules`)).body;
}

describe('schedules', { timeout: 180_000 }, () => {
  before(async () => {
    server = await startServer({ adminPassword: ADMIN_PASSWORD });
    api = await apiLogin(server.url, 'admin', ADMIN_PASSWORD);
    // Nothing listens on port 9; no schedule fires during the test (the first slot is hours away).
    block = (
      await api.post('/blocks', {
        name: 'prod DHIS2',
        block_type: 'dhis2-credentials',
        data: { base_url: 'http://127.0.0.1:9', username: 'admin', password: 'district-Secret-42' },
      })
    ).body;
    deployment = (await api.get('/deployments')).body.find((d) => d.flow_name === 'dhis2-chap-prediction');
    browser = await launchBrowser();
    page = await newPage(browser, problems);
    await logIn(page, server.url, 'admin', ADMIN_PASSWORD);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a deployment without schedules says so everywhere', async () => {
    await page.getByTestId('no-upcoming').waitFor(WAIT);
    await navLink(page, 'Deployments').click();
    await page.getByTestId('next-scheduled').getByText('No active schedule').waitFor(WAIT);
    await page.getByRole('link', { name: deployment.name }).click();
    await page.getByTestId('schedules-empty').waitFor(WAIT);
  });

  test('a cron schedule previews its next runs in its timezone as the expression is typed', async () => {
    await page.getByRole('button', { name: 'Add schedule' }).click();
    await page.getByLabel('Cron expression').waitFor(WAIT);
    // A sensible start: a weekly cron in the browser's own zone, already previewed.
    await eventually(async () => (await previewItems().count()) === 5, { what: 'the initial preview' });

    await page.getByLabel('Cron expression').fill('30 6 * * 1-5');
    await page.getByLabel('Timezone').fill('Africa/Nairobi');
    await eventually(
      async () => {
        const texts = await previewItems().allTextContents();
        return texts.length === 5 && texts.every((t) => /^(Mon|Tue|Wed|Thu|Fri) \S+ 06:30 \(\+03:00\) \S+ 03:30:00\sUTC$/.test(t));
      },
      { what: 'five weekday 06:30 Nairobi times' },
    );
    await screenshotBothSizes(page, 'schedule-form');

    await page.getByLabel('Cron expression').fill('61 * * * *');
    await fieldError('cron').getByText(/invalid cron/i).waitFor(WAIT);
    assert.equal(await page.getByLabel('Cron expression').getAttribute('aria-invalid'), 'true');
    await page.getByTestId('schedule-preview').getByText('Complete the timing above').waitFor(WAIT);
    await page.getByLabel('Cron expression').fill('30 6 * * 1-5');
    await eventually(async () => (await previewItems().count()) === 5, { what: 'the preview again' });
    assert.equal(await fieldError('cron').textContent(), '');

    await page.getByLabel('Timezone').fill('Mars/Base');
    await fieldError('timezone').getByText(/Not a timezone/).waitFor(WAIT);
    await page.getByLabel('Timezone').fill('Africa/Nairobi');
    await eventually(async () => (await fieldError('timezone').textContent()) === '', { what: 'the zone accepted' });
  });

  test('saving needs the credentials the deployment does not set, then stores what was chosen', async () => {
    await page.getByRole('button', { name: 'Save schedule' }).click();
    await fieldError('credentials').getByText('Required.').waitFor(WAIT);
    assert.deepEqual(await schedules(), []);

    await page.locator('#schedule-param-credentials').selectOption({ label: 'prod DHIS2' });
    await page.getByLabel('Missed runs').selectOption({ label: 'Run the most recent once' });
    await page.getByRole('button', { name: 'Save schedule' }).click();
    await card().waitFor(WAIT);
    assert.equal(await page.locator('.schedule-form').count(), 0, 'the form closed');

    const [stored] = await schedules();
    scheduleId = stored.id;
    assert.equal(stored.cron, '30 6 * * 1-5');
    assert.equal(stored.timezone, 'Africa/Nairobi');
    assert.deepEqual(stored.parameters, { credentials: block.id });
    assert.equal(stored.missed_policy, 'latest');
    assert.equal(stored.active, true);

    await card().getByText('Cron 30 6 * * 1-5').waitFor(WAIT);
    assert.match(await card().getByTestId('next-fire').textContent(), /06:30 .* 03:30:00\sUTC/);
    await card().getByText('credentials: prod DHIS2').waitFor(WAIT);
    await card().getByText(/latest/).waitFor(WAIT);
    await screenshotBothSizes(page, 'deployment-schedules');
  });

  test('the active switch turns the schedule off and back on', async () => {
    const next = (await schedules())[0].next_fire_at;
    await card().getByRole('switch', { name: 'Active' }).click();
    await card().locator('.state-badge', { hasText: 'Inactive' }).waitFor(WAIT);
    await card().getByTestId('next-fire').getByText('none while inactive').waitFor(WAIT);
    assert.equal((await schedules())[0].active, false);

    await card().getByRole('switch', { name: 'Active' }).click();
    // Exactly "Active": a text match would also take "Inactive".
    await card().locator('.state-badge', { hasText: /^Active$/ }).waitFor(WAIT);
    const back = (await schedules())[0];
    assert.equal(back.active, true);
    assert.equal(back.next_fire_at, next);
  });

  test('editing turns it into an interval schedule and keeps its id', async () => {
    await card().getByRole('button', { name: /^Edit schedule/ }).click();
    await page.getByLabel('Cron expression').waitFor(WAIT);
    assert.equal(await page.getByLabel('Cron expression').inputValue(), '30 6 * * 1-5');
    assert.equal(await page.getByLabel('Timezone').inputValue(), 'Africa/Nairobi');
    assert.equal(await page.locator('#schedule-param-credentials').inputValue(), block.id);

    await page.getByLabel('At a fixed interval').check();
    await page.getByLabel('Every').fill('2');
    await page.getByLabel('Unit').selectOption({ label: 'hours' });
    await eventually(
      async () => {
        // The first time of each item is the schedule's wall clock; the second, the viewer's.
        const times = await previewItems().locator(':scope > time').evaluateAll((els) => els.map((e) => Date.parse(e.getAttribute('datetime'))));
        return times.length === 5 && times.slice(1).every((t, i) => t - times[i] === 7_200_000);
      },
      { what: 'five times two hours apart' },
    );
    await page.getByRole('button', { name: 'Save schedule' }).click();
    await card().getByText('Every 2 h').waitFor(WAIT);
    const [edited] = await schedules();
    assert.equal(edited.id, scheduleId);
    assert.equal(edited.interval_seconds, 7200);
    assert.equal(edited.cron, null);
    assert.deepEqual(edited.parameters, { credentials: block.id });
  });

  test('the dashboard and the deployments list show the next scheduled run', async () => {
    await navLink(page, 'Dashboard').click();
    const upcoming = page.getByTestId('upcoming').locator('li');
    await upcoming.first().waitFor(WAIT);
    assert.equal(await upcoming.count(), 1);
    assert.match(await upcoming.first().textContent(), new RegExp(`${deployment.name}.*in 1\\s?h \\d+\\s?min · Every 2\\s?h`));
    await screenshotBothSizes(page, 'dashboard-upcoming');
    await navLink(page, 'Deployments').click();
    await page.getByTestId('next-scheduled').getByText(/^Next scheduled run: /).waitFor(WAIT);
  });

  test('deleting asks first, then removes the schedule', async () => {
    await page.getByRole('link', { name: deployment.name }).click();
    await card().getByRole('button', { name: 'Delete…' }).click();
    await card().getByText('Delete this schedule? Runs it already created stay.').waitFor(WAIT);
    await card().getByRole('button', { name: 'Keep it' }).click();
    assert.equal((await schedules()).length, 1);
    await card().getByRole('button', { name: 'Delete…' }).click();
    await card().getByRole('button', { name: 'Delete schedule' }).click();
    await page.getByTestId('schedules-empty').waitFor(WAIT);
    assert.deepEqual(await schedules(), []);
    const audit = (await api.get('/audit?action=schedule.deleted')).body.items;
    assert.equal(audit.length, 1);
    assert.equal(audit[0].target, `schedule:${scheduleId}`);
  });

  test('the deployment settings are edited in place, and schedules then inherit the default credentials', async () => {
    await page.getByRole('button', { name: 'Edit settings' }).click();
    await page.getByLabel('Runs at once').fill('0');
    await page.getByLabel('Retries').fill('11');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.locator('[data-field="concurrency_limit"] .field-error', { hasText: 'from 1 to 1000' }).waitFor(WAIT);
    await page.locator('[data-field="retries"] .field-error', { hasText: 'from 0 to 10' }).waitFor(WAIT);
    await page.getByLabel('Runs at once').fill('2');
    await page.getByLabel('Retries').fill('3');
    await page.getByLabel('When that many are running').selectOption('cancel_new');
    await page.getByLabel('Timeout (seconds)').fill('3600');
    await page.locator('#default-credentials').selectOption({ label: 'prod DHIS2' });
    await screenshotBothSizes(page, 'deployment-settings');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByTestId('concurrency').getByText('2 at once (cancel_new)').waitFor(WAIT);
    const saved = (await api.get(`/deployments/${deployment.id}`)).body;
    assert.equal(saved.concurrency_limit, 2);
    assert.equal(saved.collision_strategy, 'cancel_new');
    assert.equal(saved.retries, 3);
    assert.equal(saved.timeout_seconds, 3600);
    assert.deepEqual(saved.parameters, { credentials: block.id, end_mode: 'calculated' });
    assert.match(await page.getByTestId('deployment-parameters').textContent(), new RegExp(block.id));

    // A schedule may now leave the credentials to the deployment.
    await page.getByRole('button', { name: 'Add schedule' }).click();
    await page.locator('#schedule-param-credentials option', { hasText: 'Deployment default (prod DHIS2)' })
      .waitFor({ state: 'attached', ...WAIT });
    await page.getByRole('button', { name: 'Save schedule' }).click();
    await card().waitFor(WAIT);
    assert.deepEqual((await schedules())[0].parameters, {});
    await card().getByText('none (the deployment\'s defaults)').waitFor(WAIT);
  });

  test('no page errors and no CSP violations', () => {
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.cspViolations, []);
  });
});
