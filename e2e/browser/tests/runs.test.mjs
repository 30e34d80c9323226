// Prediction runs in real Chromium: the real server, the real SPA and the DHIS2 + chap simulator.
// The custom run form (one run per end mode, inline and server-side validation, a dry-run import), the run detail with
// steps progressing, log lines arriving and the report rendered, cancel and retry, the runs list's
// filters, the dashboard, a retry of only the failed setups, and what a viewer may not do. The tests run in order, like one operator's day.
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
import { appPath, PUBLIC_PATH, startServer, startSimulator } from '../lib/server.mjs';

const ADMIN_PASSWORD = 'e2e-admin-password-0123';
const VIEWER_PASSWORD = 'e2e-viewer-password-0123';
const RUN_WAIT = { timeout: 30_000 };
const SLOW_JOB = ['PENDING', ...Array(8).fill('RUNNING'), 'SUCCESS'];
const ENDLESS_JOB = Array(500).fill('RUNNING');

let sim;
let server;
let browser;
let page;
let api;
let deployment;
let block;
const problems = newProblems();

/** The run shown on the page, from the API. */
async function shownRun() {
  const id = new URL(page.url()).pathname.split('/').pop();
  return (await api.get(`/runs/${id}`)).body;
}

async function waitForRunState(state, wait = RUN_WAIT) {
  await page.locator('h1 [data-state]', { hasText: state }).waitFor(wait);
}

/** Opens the deployment's custom run form. */
async function openRunForm() {
  await page.goto(`${server.url}/deployments/${deployment.id}`);
  await page.getByRole('button', { name: 'Custom run…' }).click();
  await page.getByLabel('DHIS2 credentials').waitFor(WAIT);
  // The credentials dropdown lists the block once the blocks have loaded.
  await page.locator('#param-credentials option', { hasText: 'demo DHIS2' }).waitFor({ state: 'attached', ...WAIT });
}

function fieldError(name) {
  return page.locator(`[data-field="${name}"] .field-error`);
}

describe('prediction runs', { timeout: 300_000 }, () => {
  before(async () => {
    sim = await startSimulator();
    server = await startServer({
      adminPassword: ADMIN_PASSWORD,
      env: { CHAP_SCHEDULER_PREDICTION_POLL_SECONDS: '0.5', CHAP_SCHEDULER_LOG: 'warn' },
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
    assert.ok(deployment, 'the default prediction deployment exists');
    browser = await launchBrowser();
    page = await newPage(browser, problems);
    await logIn(page, server.url, 'admin', ADMIN_PASSWORD);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await sim?.stop();
  });

  test('the deployment page shows its settings, and the run form is built from the flow schema', async () => {
    await navLink(page, 'Deployments').click();
    await page.getByTestId('next-scheduled').waitFor(WAIT);
    await screenshotBothSizes(page, 'deployments');
    await page.getByRole('link', { name: deployment.name }).click();
    await page.getByRole('heading', { name: deployment.name, level: 1 }).waitFor(WAIT);
    await page.getByTestId('concurrency').getByText('1 at once').waitFor(WAIT);
    await screenshotBothSizes(page, 'deployment');

    await openRunForm();
    assert.equal(await page.getByLabel('End mode').inputValue(), 'calculated');
    // Only the field the end mode needs is shown.
    assert.equal(await page.getByLabel('End date').isVisible(), false);
    assert.equal(await page.getByLabel('End period offset').isVisible(), false);
    await page.getByLabel('End mode').selectOption('fixed');
    assert.equal(await page.getByLabel('End date').isVisible(), true);
    assert.equal(await page.getByLabel('End date').getAttribute('type'), 'date');
    assert.equal(await page.getByLabel('End period offset').isVisible(), false);
    await page.getByLabel('End mode').selectOption('offset');
    assert.equal(await page.getByLabel('End date').isVisible(), false);
    assert.equal(await page.getByLabel('End period offset').isVisible(), true);
    // Choices of strings and of numbers (after the empty "—" of an optional field), each starting on
    // the schema's default.
    const options = async (id) =>
      (await page.locator(`#param-${id} option`).evaluateAll((els) => els.map((e) => e.value))).filter((v) => v !== '');
    assert.deepEqual(await options('import_to_dhis2'), ['off', 'dry_run', 'import']);
    assert.equal(await page.getByLabel('Import forecasts to DHIS2').inputValue(), 'off');
    assert.deepEqual(await options('outbreak_probability'), ['0.9', '0.75', '0.5', '0.25', '0.1']);
    assert.equal(await page.getByLabel('Outbreak probability').inputValue(), '0.75');
    await screenshotBothSizes(page, 'run-form');
  });

  test('bad values are caught at their field before anything is sent', async () => {
    // Still on the form in offset mode: a negative offset is refused as it is typed.
    await page.getByLabel('End period offset').fill('-1');
    await fieldError('end_period_offset').getByText('Must be at least 0.').waitFor(WAIT);
    await page.getByRole('button', { name: 'Start run' }).click();
    await fieldError('credentials').getByText('Required.').waitFor(WAIT);
    await page.getByText('Correct the highlighted fields.').waitFor(WAIT);
    await page.getByLabel('End mode').selectOption('fixed');
    await fieldError('end_date').getByText('Required.').waitFor(WAIT);
    await screenshotBothSizes(page, 'run-form-errors');
    assert.equal((await api.get('/runs')).body.items.length, 0, 'no run was created');
  });

  test('a value only the server can judge is refused with its message at the field', async () => {
    await page.getByLabel('DHIS2 credentials').selectOption({ label: 'demo DHIS2' });
    await page.getByLabel('End mode').selectOption('offset');
    await page.getByLabel('End period offset').fill('99999999999');
    await page.getByRole('button', { name: 'Start run' }).click();
    await fieldError('end_period_offset').getByText(/too large/).waitFor(WAIT);
    assert.equal(appPath(page.url()), `/deployments/${deployment.id}`);
    assert.equal((await api.get('/runs')).body.items.length, 0, 'no run was created');
  });

  test('a calculated run shows its steps progressing, log lines arriving and then the report', async () => {
    await sim.control({ job_statuses: { 1: SLOW_JOB } });
    await openRunForm();
    await page.getByLabel('DHIS2 credentials').selectOption({ label: 'demo DHIS2' });
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/, WAIT);
    await waitForRunState('Running');

    // A step is seen running, and log lines arrive while the run is still going.
    const steps = page.getByTestId('steps').locator('li.step');
    await page.getByTestId('steps').locator('li.step [data-state="RUNNING"]').first().waitFor(RUN_WAIT);
    const lines = page.getByTestId('log-lines').locator('li');
    await lines.first().waitFor(RUN_WAIT);
    const linesWhileRunning = await lines.count();
    const stepsWhileRunning = await steps.count();
    assert.equal((await shownRun()).state, 'RUNNING');
    await screenshotBothSizes(page, 'run-running');
    await page.getByText(/job \S+: status=RUNNING/).first().waitFor(RUN_WAIT);

    await waitForRunState('Completed', { timeout: 60_000 });
    await eventually(async () => (await lines.count()) > linesWhileRunning, { what: 'more log lines' });
    assert.ok((await steps.count()) > stepsWhileRunning, 'more steps once it finished');
    for (const name of ['Fetch DHIS2 system info', 'Probe DHIS2 for latest covariate periods', 'Wait for prediction job']) {
      await page.getByTestId('steps').locator('li.step', { hasText: name }).first().waitFor(WAIT);
    }
    assert.equal(await page.getByTestId('steps').locator('[data-state="FAILED"]').count(), 0);
    await page.getByText('Using probed end period').first().waitFor(WAIT);

    // The report is rendered markdown (headings, lists, bold, code), not raw text.
    const report = page.getByTestId('report');
    await report.getByRole('heading', { name: 'chap-scheduler run report' }).waitFor(RUN_WAIT);
    await report.getByRole('heading', { name: /Prediction setups/ }).waitFor(WAIT);
    // Two setups succeed; the third has its schedule disabled in chap and is skipped.
    const statuses = await report.locator('li', { has: page.locator('strong', { hasText: 'Status:' }) }).allTextContents();
    assert.deepEqual(statuses.map((s) => s.split(' ')[1]).sort(), ['SKIPPED', 'SUCCEEDED', 'SUCCEEDED']);
    assert.ok((await report.locator('code').count()) > 0);
    assert.ok(!(await report.textContent()).includes('**'), 'no raw markdown');
    assert.equal(await report.locator('script').count(), 0);
    assert.ok(!(await page.content()).includes(sim.password), 'the DHIS2 password is not on the page');
    // No cancel once finished; a completed run is not retried, and no setup failed in it.
    assert.equal(await page.getByRole('button', { name: 'Cancel run' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Retry', exact: true }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Retry failed setups' }).count(), 0);
    await screenshotBothSizes(page, 'run-completed');
  });

  test('the log tail filters by level and follows new lines', async () => {
    const lines = page.getByTestId('log-lines').locator('li');
    const all = await lines.count();
    await page.getByLabel('Lowest level').selectOption('warning');
    await eventually(async () => (await lines.count()) < all, { what: 'fewer lines at warning' });
    for (const level of await page.getByTestId('log-lines').locator('.log-level').allTextContents()) {
      assert.ok(['warning', 'error'].includes(level), level);
    }
    await page.getByLabel('Lowest level').selectOption('debug');
    await eventually(async () => (await lines.count()) >= all, { what: 'all lines again' });
    assert.equal(await page.getByLabel('Follow').isChecked(), true);
  });

  test('a fixed-date run ends its input at the period of that date', async () => {
    await sim.control({ job_statuses: { 1: ['PENDING', 'SUCCESS'] } });
    const before = (await sim.submissions()).length;
    await openRunForm();
    await page.getByLabel('DHIS2 credentials').selectOption({ label: 'demo DHIS2' });
    await page.getByLabel('End mode').selectOption('fixed');
    await page.getByLabel('End date').fill('2026-01-15');
    await page.getByLabel('Prediction setup id', { exact: true }).fill('1');
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/, WAIT);
    await waitForRunState('Completed', { timeout: 60_000 });
    await page.getByText('Using fixed end period 202601 (date=2026-01-15)').waitFor(WAIT);
    const run = await shownRun();
    assert.deepEqual(run.parameters, {
      credentials: block.id,
      end_mode: 'fixed',
      end_date: '2026-01-15',
      prediction_setup_id: 1,
      only_new_data: false,
      import_to_dhis2: 'off',
      outbreak_probability: 0.75,
    });
    const submissions = (await sim.submissions()).slice(before);
    assert.equal(submissions.length, 1, 'one setup was submitted');
    const periods = submissions[0].body.providedData.map((row) => row.period).sort();
    assert.equal(periods.at(-1), '202601');
  });

  test('an offset run ends its input that many periods back', async () => {
    const before = (await sim.submissions()).length;
    await openRunForm();
    await page.getByLabel('DHIS2 credentials').selectOption({ label: 'demo DHIS2' });
    await page.getByLabel('End mode').selectOption('offset');
    await page.getByLabel('End period offset').fill('2');
    await page.getByLabel('Prediction setup id', { exact: true }).fill('1');
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/, WAIT);
    await waitForRunState('Completed', { timeout: 60_000 });
    const now = new Date();
    const back = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 2, 1));
    const expected = `${back.getUTCFullYear()}${String(back.getUTCMonth() + 1).padStart(2, '0')}`;
    await page.getByText(`Using offset end period ${expected} (offset=2)`).waitFor(WAIT);
    assert.equal((await shownRun()).parameters.end_period_offset, 2);
    const submissions = (await sim.submissions()).slice(before);
    assert.equal(submissions.length, 1);
    assert.equal(submissions[0].body.providedData.map((row) => row.period).sort().at(-1), expected);
  });

  test('a running run is cancelled from its page, keeps its steps, and can be retried', async () => {
    await sim.control({ job_statuses: { 1: ENDLESS_JOB } });
    await openRunForm();
    await page.getByLabel('DHIS2 credentials').selectOption({ label: 'demo DHIS2' });
    await page.getByLabel('Prediction setup id', { exact: true }).fill('1');
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/, WAIT);
    const steps = page.getByTestId('steps');
    await steps.locator('li.step', { hasText: 'Wait for prediction job' }).locator('[data-state="RUNNING"]').waitFor(RUN_WAIT);
    await page.getByRole('button', { name: 'Cancel run' }).click();
    await waitForRunState('Cancelled');
    const cancelled = await shownRun();
    assert.equal(cancelled.state, 'CANCELLED');
    assert.ok(cancelled.task_runs.some((t) => t.name === 'Fetch DHIS2 analytics' && t.state === 'COMPLETED'));
    assert.ok(cancelled.task_runs.some((t) => t.name === 'Wait for prediction job' && t.state === 'CANCELLED'));
    await steps.locator('li.step', { hasText: 'Wait for prediction job' }).locator('[data-state="CANCELLED"]').waitFor(WAIT);
    await page.getByTestId('history').getByText('Cancelling').waitFor(WAIT);
    await screenshotBothSizes(page, 'run-cancelled');

    await page.getByRole('button', { name: 'Retry', exact: true }).click();
    await page.waitForURL((url) => !url.pathname.endsWith(cancelled.id), WAIT);
    await page.getByTestId('retry-of').getByRole('link', { name: cancelled.id.slice(0, 8) }).waitFor(WAIT);
    const retry = await shownRun();
    assert.equal(retry.retry_of, cancelled.id);
    assert.deepEqual(retry.parameters, cancelled.parameters);
    await page.getByRole('button', { name: 'Cancel run' }).click();
    await waitForRunState('Cancelled');
    // Cancelling our run does not stop chap's job; the operator revokes it in chap.
    await sim.revokeJobsInFlight();
  });

  test('the runs list filters by state, deployment and day, keeps them in the address, and refreshes', async () => {
    await navLink(page, 'Runs').click();
    const rows = page.getByTestId('runs-table').locator('tbody tr');
    await eventually(async () => (await rows.count()) === 5, { what: 'five runs listed' });
    await screenshotBothSizes(page, 'runs');

    await page.getByLabel('State').selectOption({ label: 'Cancelled' });
    await eventually(async () => (await rows.count()) === 2, { what: 'two cancelled runs' });
    for (const state of await rows.locator('[data-state]').evaluateAll((els) => els.map((e) => e.dataset.state))) {
      assert.equal(state, 'CANCELLED');
    }
    assert.equal(new URL(page.url()).searchParams.get('state'), 'CANCELLED');

    await page.getByLabel('Deployment').selectOption({ label: deployment.name });
    assert.equal(new URL(page.url()).searchParams.get('deployment_id'), deployment.id);
    await page.reload();
    await eventually(async () => (await rows.count()) === 2, { what: 'the filters survive a reload' });
    assert.equal(await page.getByLabel('State').inputValue(), 'CANCELLED');

    // Days are on the browser's clock, and the labels say which (this browser's zone is UTC; the
    // times test uses another): runs of today are found from today, none from tomorrow on.
    const today = new Date().toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    await page.getByLabel('From (UTC)').fill(today);
    await eventually(async () => (await rows.count()) === 2, { what: 'runs from today' });
    await page.getByLabel('From (UTC)').fill(tomorrow);
    await page.getByTestId('runs-empty').waitFor(WAIT);
    await page.getByLabel('To (UTC)').fill(today);
    await page.getByText('The first day is after the last day.').waitFor(WAIT);
    await screenshotBothSizes(page, 'runs-filtered');
    await page.getByLabel('From (UTC)').fill('');
    await page.getByLabel('To (UTC)').fill('');
    await page.getByLabel('State').selectOption({ label: 'Any state' });
    await eventually(async () => (await rows.count()) === 5, { what: 'all five again' });

    // A run started elsewhere shows up without a reload (the list refreshes every 5 s).
    await sim.control({ job_statuses: { 1: ['PENDING', 'SUCCESS'] } });
    const triggered = await api.post(`/deployments/${deployment.id}/runs`, {
      parameters: { credentials: block.id, prediction_setup_id: 1 },
    });
    assert.equal(triggered.status, 201);
    await page.locator(`tr[data-run-id="${triggered.body.id}"]`).waitFor({ timeout: 15_000 });
  });

  test('the dashboard counts runs per day and lists the recent failure with its failed step', async () => {
    // chap refuses setup 1 once: the run fails at "Run prediction setup".
    await sim.control({ fault: { group: 'run_setup', method: 'POST', status: 500, next: 1 } });
    const triggered = await api.post(`/deployments/${deployment.id}/runs`, {
      parameters: { credentials: block.id, prediction_setup_id: 1 },
    });
    await eventually(async () => (await api.get(`/runs/${triggered.body.id}`)).body.state === 'FAILED', {
      timeout: 30_000,
      what: 'the run failed',
    });
    await navLink(page, 'Dashboard').click();
    const failure = page.getByTestId('failures').locator(`li[data-run-id="${triggered.body.id}"]`);
    await failure.waitFor(WAIT);
    assert.match(await failure.getByTestId('failed-step').textContent(), /Run prediction setup/);
    await page.getByTestId('runs-chart').waitFor(WAIT);
    const today = new Date().toISOString().slice(0, 10);
    const row = page.getByTestId('runs-chart').locator('tr', { hasText: today });
    assert.match(await row.textContent(), /Completed 4/);
    assert.match(await row.textContent(), /Cancelled 2/);
    assert.match(await row.textContent(), /Failed 1/);
    await page.getByTestId('no-upcoming').waitFor(WAIT);
    await screenshotBothSizes(page, 'dashboard-with-runs');
  });

  // After the dashboard's counts, before the deployment gets default parameters (a default
  // prediction_setup_id would clash with prediction_setup_ids).
  test('a run where one setup failed retries just that setup, and the two runs link each other', async () => {
    // Setup 2's chap job fails and setup 1's succeeds: the run completes with setup 2 failed.
    await sim.control({ job_statuses: { 1: ['PENDING', 'SUCCESS'], 2: ['PENDING', 'FAILURE'] } });
    await openRunForm();
    await page.getByLabel('DHIS2 credentials').selectOption({ label: 'demo DHIS2' });
    const setupIds = page.getByLabel('Prediction setup ids');
    await setupIds.fill('1, two');
    await fieldError('prediction_setup_ids').getByText('Enter whole numbers separated by commas.').waitFor(WAIT);
    await setupIds.fill('1, 2');
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/, WAIT);
    await waitForRunState('Completed', { timeout: 60_000 });
    const parent = await shownRun();
    assert.deepEqual(parent.parameters.prediction_setup_ids, [1, 2]);
    assert.deepEqual(parent.summary.failed_setup_ids, [2]);
    // A completed run is not retried as a whole, but its failed setup can be.
    assert.equal(await page.getByRole('button', { name: 'Retry', exact: true }).count(), 0);
    const retryFailed = page.getByRole('button', { name: 'Retry failed setups' });
    await retryFailed.waitFor(WAIT);
    await screenshotBothSizes(page, 'run-setup-failed');

    await sim.control({ job_statuses: { 2: ['PENDING', 'SUCCESS'] } });
    const before = (await sim.submissions()).length;
    await retryFailed.click();
    await page.waitForURL((url) => !url.pathname.endsWith(parent.id), WAIT);
    const retryOf = page.getByTestId('retry-of');
    await retryOf.getByRole('link', { name: parent.id.slice(0, 8) }).waitFor(WAIT);
    assert.equal(await retryOf.getByRole('link').getAttribute('href'), `${PUBLIC_PATH}/runs/${parent.id}`);
    const child = await shownRun();
    assert.equal(child.retry_of, parent.id);
    assert.deepEqual(child.parameters.prediction_setup_ids, [2]);
    assert.equal(child.parameters.credentials, block.id);
    await waitForRunState('Completed', { timeout: 60_000 });
    const submitted = (await sim.submissions()).slice(before).map((s) => s.setup_id);
    assert.deepEqual(submitted, [2], 'only the failed setup ran again');
    // Nothing failed this time: nothing is left to retry.
    assert.equal(await page.getByRole('button', { name: 'Retry failed setups' }).count(), 0);
    await screenshotBothSizes(page, 'run-retry-of');

    // Back on the first run, the retry is listed.
    await retryOf.getByRole('link').click();
    await page.waitForURL((url) => url.pathname.endsWith(parent.id), WAIT);
    const retriedBy = page.getByTestId('retried-by');
    await retriedBy.getByRole('link', { name: child.id.slice(0, 8) }).waitFor(WAIT);
    assert.equal(await retriedBy.getByRole('link').getAttribute('href'), `${PUBLIC_PATH}/runs/${child.id}`);
    await screenshotBothSizes(page, 'run-retried-by');
  });

  test('a quick run uses the deployment defaults, and says what is missing from them', async () => {
    const before = (await api.get('/runs')).body.items.length;
    await page.goto(`${server.url}/deployments/${deployment.id}`);
    await page.getByRole('button', { name: 'Quick run' }).click();
    await page.getByRole('alert').filter({ hasText: /credentials: required: the id of a dhis2-credentials block\. Set the missing defaults under Edit settings/ }).waitFor(WAIT);
    assert.equal((await api.get('/runs')).body.items.length, before, 'no run was created');

    const patched = await api.patch(`/deployments/${deployment.id}`, {
      parameters: { credentials: block.id, end_mode: 'calculated', prediction_setup_id: 1 },
    });
    assert.equal(patched.status, 200);
    await page.reload();
    await page.getByRole('button', { name: 'Quick run' }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/, WAIT);
    await waitForRunState('Completed', { timeout: 60_000 });
    assert.deepEqual((await shownRun()).parameters, { credentials: block.id, end_mode: 'calculated', prediction_setup_id: 1 });
  });

  test('a dry-run import is asked for from the form, with the outbreak probability as a number, and its report shows it', async () => {
    await sim.control({ job_statuses: { 1: ['PENDING', 'SUCCESS'] } });
    await openRunForm();
    await page.getByLabel('DHIS2 credentials').selectOption({ label: 'demo DHIS2' });
    await page.getByLabel('Prediction setup id', { exact: true }).fill('1');
    await page.getByLabel('Import forecasts to DHIS2').selectOption('dry_run');
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/, WAIT);
    const run = await shownRun();
    assert.equal(run.parameters.import_to_dhis2, 'dry_run');
    assert.equal(run.parameters.outbreak_probability, 0.75);
    assert.equal(typeof run.parameters.outbreak_probability, 'number');
    await waitForRunState('Completed', { timeout: 60_000 });
    // The report shows what DHIS2 said of the forecast's values: a line for the setup, the data
    // elements by name, and the run's total, rendered as markdown.
    const report = page.getByTestId('report');
    await report.getByRole('heading', { name: 'DHIS2 import' }).waitFor(RUN_WAIT);
    const line = report.locator('li', { has: page.locator('strong', { hasText: 'DHIS2 import:' }) }).first();
    assert.match(await line.textContent(), /dry run -- \d+ values checked, nothing written; DHIS2 would have imported \d+/);
    assert.match(await report.textContent(), /Data elements: .*Predicted/);
    assert.match(await report.textContent(), /DRY RUN -- 1 setup: \d+ values checked/);
    await screenshotBothSizes(page, 'run-report-import');
  });

  test('a viewer sees runs and deployments but no control that would change them', async () => {
    assert.equal(
      (await api.post('/users', { username: 'vic', password: VIEWER_PASSWORD, role: 'viewer' })).status,
      201,
    );
    const viewer = await newPage(browser, problems);
    await logIn(viewer, server.url, 'vic', VIEWER_PASSWORD);
    await viewer.goto(`${server.url}/deployments/${deployment.id}`);
    await viewer.getByRole('heading', { name: deployment.name, level: 1 }).waitFor(WAIT);
    await viewer.getByTestId('schedules').waitFor(WAIT);
    for (const name of ['Quick run', 'Custom run…', 'Pause', 'Resume', 'Add schedule', 'Edit settings']) {
      assert.equal(await viewer.getByRole('button', { name }).count(), 0, name);
    }
    await screenshotBothSizes(viewer, 'viewer-deployment');
    const runs = (await api.get('/runs')).body.items;
    const cancelled = runs.find((r) => r.state === 'CANCELLED');
    await viewer.goto(`${server.url}/runs/${cancelled.id}`);
    await viewer.locator('h1 [data-state="CANCELLED"]').waitFor(WAIT);
    await viewer.getByTestId('log-lines').locator('li').first().waitFor(WAIT);
    assert.equal(await viewer.locator('main button').count(), 0, 'no buttons on the run page');
    await screenshotBothSizes(viewer, 'viewer-run');
    await viewer.context().close();
  });

  test('no page errors and no CSP violations', () => {
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.cspViolations, []);
  });
});
