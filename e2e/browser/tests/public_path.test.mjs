// Where the app lives: a deep link to a run page reloaded, the page's <base>, Swagger UI trying an
// operation. Run directly at `/`, and with CHAP_BROWSER_PUBLIC_PATH under a prefix behind nginx with
// nginx/subpath.conf, where every address must carry the prefix (the harness fails a file whose pages
// requested anything outside it).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { apiLogin, launchBrowser, logIn, newPage, newProblems, WAIT } from '../lib/browser.mjs';
import { appPath, PUBLIC_PATH, startServer, startSimulator } from '../lib/server.mjs';

const ADMIN_PASSWORD = 'e2e-admin-password-0123';
const RUN_WAIT = { timeout: 60_000 };

let sim;
let server;
let browser;
let page;
let runId;
const problems = newProblems();

describe(`the app at ${PUBLIC_PATH || '/'}`, { timeout: 180_000 }, () => {
  before(async () => {
    sim = await startSimulator();
    server = await startServer({
      adminPassword: ADMIN_PASSWORD,
      env: { CHAP_SCHEDULER_PREDICTION_POLL_SECONDS: '0.2' },
    });
    const api = await apiLogin(server.url, 'admin', ADMIN_PASSWORD);
    const block = await api.post('/blocks', {
      name: 'demo DHIS2',
      block_type: 'dhis2-credentials',
      data: { base_url: sim.url, username: sim.username, password: sim.password },
    });
    assert.equal(block.status, 201);
    const deployment = (await api.get('/deployments')).body.find((d) => d.flow_name === 'dhis2-chap-prediction');
    const run = await api.post(`/deployments/${deployment.id}/runs`, { parameters: { credentials: block.body.id } });
    assert.equal(run.status, 201);
    runId = run.body.id;
    browser = await launchBrowser();
    page = await newPage(browser, problems);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await sim?.stop();
  });

  test('the page points its base at the public path and loads its assets there', async () => {
    const response = await page.goto(`${server.url}/`);
    assert.equal(response.status(), 200);
    const base = await page.evaluate(() => document.querySelector('base')?.getAttribute('href'));
    assert.equal(base, `${PUBLIC_PATH}/`);
    await page.getByLabel('Username').waitFor(WAIT);
    assert.equal(appPath(page.url()), '/login');
    const assets = await page.evaluate(() => performance.getEntriesByType('resource').map((r) => r.name));
    for (const name of ['style.css', 'boot.js', 'app.js', 'app_bg.wasm']) {
      const url = assets.find((a) => a.endsWith(`/${name}`));
      assert.ok(url, `${name} was loaded (${assets.join(', ')})`);
      assert.equal(new URL(url).pathname, `${PUBLIC_PATH}/${name}`);
    }
  });

  test('a deep link to a run page works, and again after a reload, with the live log and the report', async () => {
    await logIn(page, server.url, 'admin', ADMIN_PASSWORD);
    await page.goto(`${server.url}/runs/${runId}`);
    await page.locator('h1 [data-state]', { hasText: 'Completed' }).waitFor(RUN_WAIT);
    await page.getByTestId('log-lines').locator('li').first().waitFor(WAIT);
    await page.getByTestId('report').getByRole('heading', { name: 'chap-scheduler run report' }).waitFor(WAIT);
    await page.reload();
    assert.equal(appPath(page.url()), `/runs/${runId}`);
    await page.locator('h1 [data-state]', { hasText: 'Completed' }).waitFor(WAIT);
    await page.getByTestId('log-lines').locator('li').first().waitFor(WAIT);
    // The report's links to the forecast tab go under the public path, and the router follows them.
    const link = page.getByTestId('report').locator('a[href*="#forecast"]').first();
    assert.match(await link.getAttribute('href'), new RegExp(`^${PUBLIC_PATH}/runs/${runId}\\?setup=`));
    await link.click();
    await page.waitForURL((url) => appPath(url) === `/runs/${runId}` && url.hash === '#forecast', WAIT);
    // The navigation's links too.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Runs', exact: true }).click();
    await page.waitForURL((url) => appPath(url) === '/runs', WAIT);
    assert.equal(new URL(page.url()).pathname, `${PUBLIC_PATH}/runs`);
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.cspViolations, []);
  });

  test('Swagger UI loads the document of the public path and tries an operation there', async () => {
    const docs = await newPage(browser, problems);
    await docs.goto(`${server.url}/docs/`);
    await docs.getByRole('heading', { name: /chap-scheduler API/ }).waitFor(WAIT);
    const health = docs.locator('.opblock', { hasText: '/health' }).first();
    await health.locator('.opblock-summary').click();
    await health.getByRole('button', { name: 'Try it out' }).click();
    const answer = docs.waitForResponse((r) => r.url().endsWith('/health'), WAIT);
    await health.getByRole('button', { name: 'Execute' }).click();
    const response = await answer;
    assert.equal(response.status(), 200);
    assert.equal(new URL(response.url()).pathname, `${PUBLIC_PATH}/health`);
    await docs.close();
  });
});
