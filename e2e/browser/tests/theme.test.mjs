// Light and dark: the main pages checked for WCAG text contrast (lib/contrast.mjs: 4.5:1, 3:1 for
// large text) in both colour schemes, with screenshots of the dark scheme at 1280 and 375 px.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  apiLogin,
  eventually,
  launchBrowser,
  logIn,
  newPage,
  newProblems,
  screenshotBothSizes,
  WAIT,
} from '../lib/browser.mjs';
import { assertReadable } from '../lib/contrast.mjs';
import { startServer, startSimulator } from '../lib/server.mjs';

const ADMIN_PASSWORD = 'e2e-admin-password-0123';
const RUN_WAIT = { timeout: 60_000 };

let sim;
let server;
let browser;
let page;
let api;
let deployment;
let completed;
let failed;
const problems = newProblems();

async function waitForRun(id, state) {
  return eventually(
    async () => {
      const run = (await api.get(`/runs/${id}`)).body;
      return run.state === state && run;
    },
    { timeout: 60_000, what: `run ${id} ${state}` },
  );
}

/**
 * The pages checked: how to get there, and what shows that they are ready. In order; the login
 * pages come first, signed out.
 */
const PAGES = [
  {
    name: 'login',
    open: async () => {
      await page.goto(`${server.url}/login`);
      await page.getByLabel('Username').waitFor(WAIT);
    },
  },
  {
    name: 'login-error',
    open: async () => {
      await page.getByLabel('Username').fill('admin');
      await page.getByLabel('Password').fill('not the password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').waitFor(WAIT);
    },
  },
  {
    name: 'dashboard',
    open: async () => {
      await logIn(page, server.url, 'admin', ADMIN_PASSWORD);
      await page.getByTestId('runs-chart').waitFor(WAIT);
      await page.getByTestId('failures').locator('li').first().waitFor(WAIT);
      await page.getByTestId('upcoming').locator('li').first().waitFor(WAIT);
    },
  },
  {
    name: 'deployments',
    open: async () => {
      await page.goto(`${server.url}/deployments`);
      await page.getByTestId('next-scheduled').waitFor(WAIT);
    },
  },
  {
    name: 'schedules',
    open: async () => {
      await page.goto(`${server.url}/deployments/${deployment.id}`);
      await page.getByTestId('schedules').waitFor(WAIT);
      await page.getByTestId('next-fire').first().waitFor(WAIT);
    },
  },
  {
    name: 'run-form',
    open: async () => {
      await page.getByRole('button', { name: 'Custom run…' }).click();
      await page.getByRole('button', { name: 'Start run' }).click();
      await page.getByText('Correct the highlighted fields.').waitFor(WAIT);
    },
  },
  {
    name: 'runs',
    open: async () => {
      await page.goto(`${server.url}/runs`);
      await page.locator(`tr[data-run-id="${failed.id}"]`).waitFor(WAIT);
      await page.getByTestId('runs-table').locator('[data-state="CANCELLED"]').waitFor(WAIT);
    },
  },
  {
    name: 'run',
    open: async () => {
      await page.goto(`${server.url}/runs/${completed.id}`);
      await page.getByTestId('report').waitFor(RUN_WAIT);
      await page.getByTestId('log-lines').locator('li').first().waitFor(WAIT);
    },
  },
  {
    name: 'run-warnings',
    open: async () => {
      await page.getByLabel('Lowest level').selectOption('warning');
      await page.getByTestId('log-lines').locator('li.log-warning').first().waitFor(WAIT);
    },
  },
  {
    name: 'run-failed',
    open: async () => {
      await page.goto(`${server.url}/runs/${failed.id}`);
      await page.locator('.step-error').first().waitFor(WAIT);
      await page.getByTestId('log-lines').locator('li').first().waitFor(WAIT);
    },
  },
  {
    name: 'credentials',
    open: async () => {
      await page.goto(`${server.url}/credentials`);
      await page.getByText('demo DHIS2').first().waitFor(WAIT);
    },
  },
  {
    name: 'notifications',
    open: async () => {
      await page.goto(`${server.url}/notifications`);
      await page.getByRole('heading', { name: 'Notifications', level: 1 }).waitFor(WAIT);
    },
  },
  {
    name: 'users',
    open: async () => {
      await page.goto(`${server.url}/admin/users`);
      await page.locator('tr[data-user-id]', { hasText: 'vic' }).waitFor(WAIT);
    },
  },
  {
    name: 'tokens',
    open: async () => {
      await page.goto(`${server.url}/admin/tokens`);
      await page.locator('tr[data-token-id]').first().waitFor(WAIT);
    },
  },
  {
    name: 'audit',
    open: async () => {
      await page.goto(`${server.url}/admin/audit`);
      await page.getByTestId('audit-table').waitFor(WAIT);
    },
  },
  {
    name: 'account',
    open: async () => {
      await page.goto(`${server.url}/account`);
      await page.getByText('Last login').waitFor(WAIT);
    },
  },
];

describe('light and dark', { timeout: 300_000 }, () => {
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
    deployment = (await api.get('/deployments')).body.find((d) => d.flow_name === 'dhis2-chap-prediction');
    // A run of every setup: one fails (a warning in the log), one is skipped; the run completes.
    await sim.control({ job_statuses: { 1: ['PENDING', 'SUCCESS'], 2: ['PENDING', 'FAILURE'] } });
    const first = await api.post(`/deployments/${deployment.id}/runs`, { parameters: { credentials: block.id } });
    completed = await waitForRun(first.body.id, 'COMPLETED');
    // chap refuses the next setup once: a failed run with its failed step.
    await sim.control({ fault: { group: 'run_setup', method: 'POST', status: 500, next: 1 } });
    const second = await api.post(`/deployments/${deployment.id}/runs`, {
      parameters: { credentials: block.id, prediction_setup_id: 1 },
    });
    failed = await waitForRun(second.body.id, 'FAILED');
    // A cancelled run: its badge in the runs list too.
    await sim.control({ job_statuses: { 1: Array(500).fill('RUNNING') } });
    const third = await api.post(`/deployments/${deployment.id}/runs`, {
      parameters: { credentials: block.id, prediction_setup_id: 1 },
    });
    await waitForRun(third.body.id, 'RUNNING');
    assert.equal((await api.post(`/runs/${third.body.id}/cancel`)).status, 200);
    await waitForRun(third.body.id, 'CANCELLED');
    await sim.revokeJobsInFlight();
    for (const schedule of [
      { cron: '0 6 * * 1', timezone: 'Africa/Nairobi', parameters: { credentials: block.id } },
      { interval_seconds: 7200, active: false, parameters: { credentials: block.id } },
    ]) {
      assert.equal((await api.post(`/deployments/${deployment.id}/schedules`, schedule)).status, 201);
    }
    assert.equal((await api.post('/users', { username: 'vic', password: 'e2e-viewer-password-0123', role: 'viewer' })).status, 201);
    assert.equal((await api.post('/tokens', { name: 'warehouse export', role: 'viewer' })).status, 201);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await sim?.stop();
  });

  for (const colorScheme of ['light', 'dark']) {
    test(`every main page is readable in the ${colorScheme} scheme`, async () => {
      page = await newPage(browser, problems, { colorScheme });
      await page.emulateMedia({ colorScheme });
      assert.equal(
        await page.evaluate((scheme) => matchMedia(`(prefers-color-scheme: ${scheme})`).matches, colorScheme),
        true,
      );
      const failures = [];
      for (const { name, open } of PAGES) {
        await open();
        try {
          await assertReadable(page, `${name} (${colorScheme})`);
        } catch (error) {
          failures.push(error.message);
        }
        if (colorScheme === 'dark') await screenshotBothSizes(page, `dark-${name}`);
      }
      await page.context().close();
      assert.deepEqual(failures, []);
    });
  }

  test('no page errors and no CSP violations', () => {
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.cspViolations, []);
  });
});
