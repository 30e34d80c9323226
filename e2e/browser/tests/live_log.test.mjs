// The run page's live log in real Chromium: lines arrive over one streamed fetch of the SSE endpoint
// (no polling), within a second of being written; the server cuts the stream every 2 s
// (CHAP_SCHEDULER_LOG_STREAM_MAX_SECONDS) and the page resumes after the last line it showed, so its
// lines end up exactly the API's log; the level filter restarts the stream; a stream that cannot be
// reached is retried with a visible "Reconnecting…"; leaving the page ends the stream; a stream refused
// for an expired access token renews the session like any other call.
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
const STREAM_MAX_SECONDS = 2;
// A line each time the job's status changes: with a chap poll every 0.5 s, two lines a second for
// about 11 s.
const LONG_JOB = ['PENDING', ...Array(11).fill(['RUNNING', 'STARTED']).flat(), 'SUCCESS'];
const RUN_WAIT = { timeout: 60_000 };

let sim;
let server;
let browser;
let page;
let api;
let block;
const problems = newProblems();

/** Every request the page makes for a run's log: `{ url, lastEventId, at }`. */
const logRequests = [];
/** How many times the page asked for a run's artifacts (its report). */
let artifactRequests = 0;

/**
 * Starts a prediction run of every setup through the API and opens its page (setup 1 runs
 * `LONG_JOB`; setup 3 is skipped with a warning).
 */
async function startRunAndOpen() {
  const deployment = (await api.get('/deployments')).body.find((d) => d.flow_name === 'dhis2-chap-prediction');
  const triggered = await api.post(`/deployments/${deployment.id}/runs`, {
    parameters: { credentials: block.id },
  });
  assert.equal(triggered.status, 201);
  await page.goto(`${server.url}/runs/${triggered.body.id}`);
  return triggered.body.id;
}

/** The API's log of a run at `level` or above: ids and lines. */
async function apiLog(id, level) {
  const page = await api.get(`/runs/${id}/logs?limit=1000&level=${level}`);
  assert.equal(page.status, 200);
  return page.body.items;
}

/** The ids of the lines shown, in order. */
function shownIds() {
  return page.getByTestId('log-lines').locator('li').evaluateAll((els) => els.map((e) => Number(e.dataset.id)));
}

function linkState() {
  return page.getByTestId('log-status').getAttribute('data-link');
}

describe('the live log', { timeout: 300_000 }, () => {
  before(async () => {
    sim = await startSimulator();
    server = await startServer({
      adminPassword: ADMIN_PASSWORD,
      env: {
        CHAP_SCHEDULER_PREDICTION_POLL_SECONDS: '0.5',
        CHAP_SCHEDULER_LOG_STREAM_MAX_SECONDS: String(STREAM_MAX_SECONDS),
      },
    });
    api = await apiLogin(server.url, 'admin', ADMIN_PASSWORD);
    const created = await api.post('/blocks', {
      name: 'demo DHIS2',
      block_type: 'dhis2-credentials',
      data: { base_url: sim.url, username: sim.username, password: sim.password },
    });
    assert.equal(created.status, 201);
    block = created.body;
    browser = await launchBrowser();
    page = await newPage(browser, problems);
    // When each log line and each run state first appears on the page, by the page's clock (the
    // server's clock too: both run on this machine).
    await page.addInitScript(() => {
      window.__seen = { lines: {}, states: {} };
      const within = (node, selector) => [
        ...(node.matches(selector) ? [node] : []),
        ...node.querySelectorAll(selector),
      ];
      new MutationObserver((changes) => {
        const now = Date.now();
        for (const change of changes) {
          // New elements, and elements whose state changed in place.
          const nodes = change.type === 'attributes' ? [change.target] : [...change.addedNodes];
          for (const node of nodes) {
            if (node.nodeType !== Node.ELEMENT_NODE) continue;
            for (const li of within(node, 'li.log-line')) {
              window.__seen.lines[li.dataset.id] ??= now;
            }
            for (const badge of within(node, 'h1 [data-state]')) {
              window.__seen.states[badge.dataset.state] ??= now;
            }
          }
        }
      }).observe(document, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-state'] });
    });
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (/\/api\/v1\/runs\/[^/]+\/logs/.test(url.pathname)) {
        logRequests.push({ url, lastEventId: request.headers()['last-event-id'], at: Date.now() });
      }
      if (url.pathname.endsWith('/artifacts')) artifactRequests += 1;
    });
    await logIn(page, server.url, 'admin', ADMIN_PASSWORD);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await sim?.stop();
  });

  test('lines reach the page within a second over one stream that resumes after every cut, and nothing polls', async () => {
    // Setup 2's job fails: a warning for the level filter below.
    await sim.control({ job_statuses: { 1: LONG_JOB, 2: ['PENDING', 'FAILURE'] } });
    logRequests.length = 0;
    artifactRequests = 0;
    const openedAt = Date.now();
    const id = await startRunAndOpen();
    await page.getByText(/job \S+: status=RUNNING/).first().waitFor(RUN_WAIT);
    assert.equal(await linkState(), 'live');
    await page.getByTestId('log-status').getByText('Live').waitFor(WAIT);
    await screenshotBothSizes(page, 'live-log-running');

    await page.locator('h1 [data-state="COMPLETED"]').waitFor(RUN_WAIT);
    await eventually(async () => (await linkState()) === 'complete', { what: 'the stream ended with `end`' });
    const run = (await api.get(`/runs/${id}`)).body;
    const lines = await apiLog(id, 'info');

    // Exactly the API's lines at the page's level, once each, in order.
    assert.deepEqual(await shownIds(), lines.map((l) => l.id));

    // Only the stream was asked for: once, then once per cut, each resume after the last line shown.
    const streams = logRequests.filter((r) => r.url.pathname.endsWith('/logs/stream'));
    assert.equal(streams.length, logRequests.length, `a request that is not the stream: ${logRequests.map((r) => r.url)}`);
    const lasted = (Date.parse(run.ended_at) - openedAt) / 1000;
    const cuts = Math.floor(lasted / STREAM_MAX_SECONDS);
    assert.ok(
      streams.length >= cuts && streams.length <= cuts + 2,
      `${streams.length} stream requests in ${lasted.toFixed(1)} s with a cut every ${STREAM_MAX_SECONDS} s`,
    );
    for (const resume of streams.slice(1)) {
      assert.match(resume.lastEventId ?? '', /^\d+$/, 'a resume says where it left off');
    }
    // The log, the report and the deliveries are built once, not again with each refresh of the run
    // (that restarted the log and fetched the report every 2 s): the report is read when the page
    // opens and when the run finishes.
    assert.ok(artifactRequests <= 2, `the report was fetched ${artifactRequests} times`);
    // No request for the log after the stream ended.
    const ended = logRequests.length;
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    assert.equal(logRequests.length, ended, 'the page asked for the log again after `end`');

    // Latency: from the line's time (when the flow wrote it) to its element on the page, for the lines
    // written while the page was open.
    const seen = await page.evaluate(() => window.__seen);
    const latencies = lines
      .filter((l) => Date.parse(l.at) > openedAt + 1_000)
      .map((l) => seen.lines[l.id] - Date.parse(l.at));
    assert.ok(latencies.length >= 15, `${latencies.length} lines measured`);
    latencies.sort((a, b) => a - b);
    const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
    console.log(
      `log latency over ${latencies.length} lines: median ${pct(50)} ms, p90 ${pct(90)} ms, max ${latencies.at(-1)} ms`,
    );
    assert.ok(latencies.at(-1) < 1_000, `a line took ${latencies.at(-1)} ms to reach the page`);
    // The `state` event refreshes the run at once (no 2 s poll of the run any more).
    const completedShownAfter = seen.states.COMPLETED - Date.parse(run.ended_at);
    console.log(`COMPLETED shown ${completedShownAfter} ms after the run ended`);
    assert.ok(completedShownAfter < 1_500, `the state showed ${completedShownAfter} ms late`);
  });

  test('the level filter restarts the stream at the new level', async () => {
    const id = new URL(page.url()).pathname.split('/').pop();
    const before = logRequests.length;
    await page.getByLabel('Lowest level').selectOption('warning');
    const warnings = await apiLog(id, 'warning');
    const all = await apiLog(id, 'debug');
    assert.ok(warnings.length > 0 && warnings.length < all.length, 'the run wrote a few warnings');
    await eventually(async () => JSON.stringify(await shownIds()) === JSON.stringify(warnings.map((l) => l.id)), {
      what: 'only warnings and errors',
    });
    for (const level of await page.getByTestId('log-lines').locator('.log-level').allTextContents()) {
      assert.ok(['warning', 'error'].includes(level), level);
    }
    await page.getByLabel('Lowest level').selectOption('debug');
    await eventually(async () => JSON.stringify(await shownIds()) === JSON.stringify(all.map((l) => l.id)), {
      what: 'every line at debug',
    });
    // The whole log arrived in one go; Follow keeps its last line in view.
    await eventually(
      () => page.getByTestId('log-lines').evaluate((ol) => ol.scrollTop + ol.clientHeight >= ol.scrollHeight - 2),
      { what: 'the log scrolled to its last line' },
    );
    const restarts = logRequests.slice(before);
    assert.deepEqual(
      restarts.map((r) => [r.url.searchParams.get('level'), r.lastEventId]),
      [
        ['warning', undefined],
        ['debug', undefined],
      ],
    );
  });

  test('a stream that cannot be reached is retried, says so, and the page catches up', async () => {
    await sim.control({ job_statuses: { 1: LONG_JOB } });
    const id = await startRunAndOpen();
    await page.getByText(/job \S+: status=RUNNING/).first().waitFor(RUN_WAIT);
    // From the next cut on, the stream cannot be reached (as if the network were down).
    let refused = 0;
    await page.route('**/logs/stream**', (route) => {
      refused += 1;
      return route.abort('internetdisconnected');
    });
    await page.getByTestId('log-status').getByText('Reconnecting…').waitFor(WAIT);
    await eventually(() => refused >= 2, { what: 'a second attempt after a pause' });
    await screenshotBothSizes(page, 'live-log-reconnecting');
    await page.unroute('**/logs/stream**');
    await page.locator('h1 [data-state="COMPLETED"]').waitFor(RUN_WAIT);
    await eventually(async () => (await linkState()) === 'complete', { what: 'the stream ended with `end`' });
    const lines = await apiLog(id, 'info');
    assert.deepEqual(await shownIds(), lines.map((l) => l.id), 'the lines missed while down were caught up, once each');
  });

  test('leaving the run page ends its stream', async () => {
    await sim.control({ job_statuses: { 1: LONG_JOB } });
    await startRunAndOpen();
    await page.getByText(/job \S+: status=RUNNING/).first().waitFor(RUN_WAIT);
    const aborted = page.waitForEvent('requestfailed', {
      predicate: (r) => r.url().includes('/logs/stream'),
      ...WAIT,
    });
    await navLink(page, 'Runs').click();
    await page.getByTestId('runs-table').waitFor(WAIT);
    assert.match((await aborted).failure()?.errorText ?? '', /ABORTED/);
    const count = logRequests.length;
    await new Promise((resolve) => setTimeout(resolve, STREAM_MAX_SECONDS * 1_000 + 1_000));
    assert.equal(logRequests.length, count, 'no stream after leaving the page');
    await sim.revokeJobsInFlight();
  });

  test('a stream refused because the access token expired renews the session and goes on', async () => {
    // A second server whose access tokens last a second (5 s with the leeway): a run outlives them.
    const shortLived = await startServer({
      adminPassword: ADMIN_PASSWORD,
      env: {
        CHAP_SCHEDULER_PREDICTION_POLL_SECONDS: '0.5',
        CHAP_SCHEDULER_LOG_STREAM_MAX_SECONDS: String(STREAM_MAX_SECONDS),
        CHAP_SCHEDULER_ACCESS_TOKEN_TTL_SECONDS: '1',
      },
    });
    const viewer = await newPage(browser, problems);
    try {
      const admin = await apiLogin(shortLived.url, 'admin', ADMIN_PASSWORD);
      const own = (
        await admin.post('/blocks', {
          name: 'demo DHIS2',
          block_type: 'dhis2-credentials',
          data: { base_url: sim.url, username: sim.username, password: sim.password },
        })
      ).body;
      const deployment = (await admin.get('/deployments')).body.find((d) => d.flow_name === 'dhis2-chap-prediction');
      const statuses = { stream: [], refresh: 0 };
      viewer.on('response', (response) => {
        const url = new URL(response.url());
        if (url.pathname.endsWith('/logs/stream')) statuses.stream.push(response.status());
        if (appPath(url) === '/api/v1/auth/refresh') statuses.refresh += 1;
      });
      await logIn(viewer, shortLived.url, 'admin', ADMIN_PASSWORD);
      // A job that runs 14 s without a change: no new lines, so no refresh of the run renews the token
      // first; the stream's resumes every 2 s meet its expiry.
      await sim.control({ job_statuses: { 1: ['PENDING', ...Array(28).fill('RUNNING'), 'SUCCESS'] } });
      const triggered = await admin.post(`/deployments/${deployment.id}/runs`, {
        parameters: { credentials: own.id, prediction_setup_id: 1 },
      });
      await viewer.goto(`${shortLived.url}/runs/${triggered.body.id}`);
      await viewer.locator('h1 [data-state="COMPLETED"]').waitFor(RUN_WAIT);
      await eventually(async () => (await viewer.getByTestId('log-status').getAttribute('data-link')) === 'complete', {
        what: 'the stream ended with `end`',
      });
      assert.ok(statuses.stream.includes(401), `a resume met the expired token: ${statuses.stream}`);
      assert.ok(statuses.refresh >= 1, 'the session was renewed');
      assert.equal(appPath(viewer.url()), `/runs/${triggered.body.id}`, 'still on the run page');
      const fresh = await apiLogin(shortLived.url, 'admin', ADMIN_PASSWORD);
      const lines = (await fresh.get(`/runs/${triggered.body.id}/logs?limit=1000&level=info`)).body.items;
      const shown = await viewer
        .getByTestId('log-lines')
        .locator('li')
        .evaluateAll((els) => els.map((e) => Number(e.dataset.id)));
      assert.deepEqual(shown, lines.map((l) => l.id));
    } finally {
      await viewer.context().close();
      await shortLived.stop();
    }
  });

  test('no page errors and no CSP violations', () => {
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.cspViolations, []);
  });
});
