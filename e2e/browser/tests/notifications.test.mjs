// Notifications in real Chromium against the real server, the DHIS2 + chap simulator and a real
// webhook receiver (an HTTP server of this test that records what it is sent): a webhook channel and
// an SMTP server made on the credentials page with their own forms, a rule made, tested and listed on
// the notifications page, a failed run's delivery on the run page and in the rule's deliveries, a
// schedule's deadline and automatic pause (late slots on the dashboard, the paused reason on its
// card), what operators and viewers see, and the admin's warning without CHAP_SCHEDULER_PUBLIC_URL.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
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
const OPERATOR_PASSWORD = 'e2e-operator-password-0123';
const VIEWER_PASSWORD = 'e2e-viewer-password-0123';
// The webhook URL carries a token, like a Slack or Teams URL: it must never reach the page.
const HOOK_TOKEN = 'T0KEN-e2e-5ecret-path-0123';
const SIGNING_SECRET = 'e2e-signing-secret-0123456789';
const RUN_WAIT = { timeout: 30_000 };
// A self-signed CA certificate (public; its key is gone): what a private mail server's CA looks like.
const CA_CERTIFICATE = `-----BEGIN CERTIFICATE-----
MIIBgzCCASmgAwIBAgIUaDMW41DKAPOETye+n+oR7SiPuV8wCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLZTJlIHRlc3QgQ0EwIBcNMjYxMjAyMDg0MjE4WhgPMjEyNjEx
MDgwODQyMThaMBYxFDASBgNVBAMMC2UyZSB0ZXN0IENBMFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEzuKvL084KNt0TQ86VPDI8b3LDXtGkBIznkLxMG8nbthLQTJ3
SihZwChRKTjGncQXcivL+NZ+GvSAwyJoP5QYjqNTMFEwHQYDVR0OBBYEFOFO1uO3
0RbvfhWQHkht/YqPTakCMB8GA1UdIwQYMBaAFOFO1uO30RbvfhWQHkht/YqPTakC
MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIhAPNSXMlC+uMLC2QR
5AOUJE3aRdt1OxMEwX5dUYg5YsFLAiAhYNw6oQYyvDt9MdDgR6oioobp8QbS9g1H
7sEHHgAK6w==
-----END CERTIFICATE-----
`;

let sim;
let server;
let receiver;
let browser;
let page;
let api;
let deployment;
let block;
let failedRunId;
const problems = newProblems();

/**
 * An HTTP server on 127.0.0.1 that records every request and answers 200, or `failing` times 500.
 * @returns {Promise<{ url: string, requests: object[], failing: number, close: () => Promise<void> }>}
 */
async function startReceiver() {
  const state = { requests: [], failing: 0 };
  const http = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      let json = null;
      try {
        json = JSON.parse(body);
      } catch {
        // A Slack or Teams text, or not JSON at all: kept as text.
      }
      state.requests.push({ method: request.method, url: request.url, headers: request.headers, body, json });
      if (state.failing > 0) {
        state.failing -= 1;
        response.writeHead(500, { 'content-type': 'text/plain' });
        response.end('receiver down for the test');
      } else {
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.end('ok');
      }
    });
  });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address();
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/hooks/${HOOK_TOKEN}`,
    close: () => new Promise((resolve) => http.close(resolve)),
  });
}

/** The events the receiver was sent, by name. */
function receivedEvents() {
  return receiver.requests.map((r) => r.json?.event).filter(Boolean);
}

function ruleCard(name) {
  return page.getByTestId('rules').locator('li.rule', { hasText: name });
}

function fieldError(field) {
  return page.locator(`[data-field="${field}"] .field-error`);
}

function scheduleCard() {
  return page.locator('.schedule').first();
}

describe('notifications', { timeout: 300_000 }, () => {
  before(async () => {
    receiver = await startReceiver();
    sim = await startSimulator();
    server = await startServer({
      adminPassword: ADMIN_PASSWORD,
      env: {
        CHAP_SCHEDULER_NOTIFY_RETRY_BASE_SECONDS: '0.2',
        CHAP_SCHEDULER_PREDICTION_POLL_SECONDS: '0.5',
        // Unset (empty counts as unset): notifications carry no link, and admins are warned.
        CHAP_SCHEDULER_PUBLIC_URL: '',
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
    deployment = (await api.get('/deployments')).body.find((d) => d.flow_name === 'dhis2-chap-prediction');
    browser = await launchBrowser();
    page = await newPage(browser, problems);
    await logIn(page, server.url, 'admin', ADMIN_PASSWORD);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await sim?.stop();
    await receiver?.close();
  });

  test('a webhook channel has its own form on the credentials page and its URL is never shown', async () => {
    await navLink(page, 'Credentials').click();
    await page.getByTestId('credentials').waitFor(WAIT);
    await page.getByRole('button', { name: 'New credentials' }).click();
    await page.locator('#block-type').selectOption({ label: 'Webhook' });
    await page.locator('#block-url').waitFor(WAIT);
    assert.equal(await page.locator('#block-base_url').count(), 0, 'no DHIS2 field');
    assert.equal(await page.locator('#block-url').getAttribute('type'), 'password');
    assert.equal(await page.locator('#block-signing_secret').getAttribute('type'), 'password');
    assert.equal(await page.locator('#block-format').inputValue(), 'json');
    await page.getByRole('button', { name: 'Save' }).click();
    await fieldError('block-url').getByText('Required.').waitFor(WAIT);
    await fieldError('name').getByText('Required.').waitFor(WAIT);
    await screenshotBothSizes(page, 'credentials-webhook-form');

    await page.locator('#name').fill('ops webhook');
    await page.locator('#block-url').fill(receiver.url);
    // The server's check lands at the field.
    await page.locator('#block-signing_secret').fill('short');
    await page.getByRole('button', { name: 'Save' }).click();
    await fieldError('block-signing_secret').filter({ hasText: /16/ }).waitFor(WAIT);
    await page.locator('#block-signing_secret').fill(SIGNING_SECRET);
    await page.getByRole('button', { name: 'Save' }).click();
    const card = page.getByTestId('credentials').locator('li', { hasText: 'ops webhook' });
    await card.waitFor(WAIT);
    assert.equal(await card.getAttribute('data-block-type'), 'webhook');
    assert.match(await card.locator('dl.facts').textContent(), /URLset \(hidden\)/);
    assert.match(await card.locator('dl.facts').textContent(), /Signing secretset \(hidden\)/);
    // The connection test reaches DHIS2 and chap: not offered for a channel.
    assert.equal(await card.getByRole('button', { name: 'Test connection' }).count(), 0);
    const dhis2Card = page.getByTestId('credentials').locator('li', { hasText: 'demo DHIS2' });
    assert.equal(await dhis2Card.getByRole('button', { name: 'Test connection' }).count(), 1);
    const content = await page.content();
    assert.ok(!content.includes(HOOK_TOKEN), 'the webhook URL is in the page');
    assert.ok(!content.includes(SIGNING_SECRET), 'the signing secret is in the page');

    // Editing keeps the stored URL when left empty.
    await card.getByRole('button', { name: 'Edit ops webhook' }).click();
    await page.getByText('Leave empty to keep the stored URL.').waitFor(WAIT);
    assert.equal(await page.locator('#block-url').inputValue(), '');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#block-form-heading').waitFor({ state: 'detached', ...WAIT });
    const [stored] = (await api.get('/blocks')).body.items.filter((b) => b.name === 'ops webhook');
    assert.equal(stored.data.url_set, true);
    assert.equal(stored.data.format, 'json');
  });

  test('an SMTP server has its own form, with the CA certificate as a text area that an edit can empty', async () => {
    await page.getByRole('button', { name: 'New credentials' }).click();
    await page.locator('#block-type').selectOption({ label: 'SMTP server' });
    await page.locator('#block-host').waitFor(WAIT);
    assert.equal(await page.locator('#block-port').inputValue(), '587');
    assert.equal(await page.locator('#block-security').inputValue(), 'starttls');
    assert.equal(await page.locator('#block-password').getAttribute('type'), 'password');
    assert.equal(await page.locator('#block-ca_certificate').evaluate((el) => el.tagName), 'TEXTAREA');
    await page.locator('#name').fill('mail relay');
    await page.locator('#block-host').fill('smtp.example.org');
    await page.locator('#block-from').fill('nobody');
    await page.locator('#block-ca_certificate').fill(CA_CERTIFICATE);
    await page.getByRole('button', { name: 'Save' }).click();
    await fieldError('block-from').filter({ hasText: /e-mail address/ }).waitFor(WAIT);
    await screenshotBothSizes(page, 'credentials-smtp-form');
    await page.locator('#block-from').fill('Forecasts <forecasts@example.org>');
    await page.getByRole('button', { name: 'Save' }).click();
    const card = page.getByTestId('credentials').locator('li', { hasText: 'mail relay' });
    await card.waitFor(WAIT);
    const facts = card.locator('dl.facts');
    assert.match(await facts.textContent(), /SecuritySTARTTLS/);
    assert.match(await facts.textContent(), /CA certificate \(PEM\)given \(11 lines\)/);
    assert.equal(await card.getByRole('button', { name: 'Test connection' }).count(), 0);

    // Emptied, the certificate is removed (an edit leaves out only what it does not change).
    await card.getByRole('button', { name: 'Edit mail relay' }).click();
    assert.equal(await page.locator('#block-ca_certificate').inputValue(), CA_CERTIFICATE.trim());
    await page.locator('#block-ca_certificate').fill('');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#block-form-heading').waitFor({ state: 'detached', ...WAIT });
    await eventually(async () => !/CA certificate/.test(await facts.textContent()), { what: 'the certificate gone' });
    const [stored] = (await api.get('/blocks')).body.items.filter((b) => b.name === 'mail relay');
    assert.equal(stored.data.ca_certificate, undefined);
    assert.equal(stored.data.host, 'smtp.example.org');
  });

  test('an admin is warned that notifications carry no link without a public URL', async () => {
    await navLink(page, 'Notifications').click();
    await page.getByTestId('rules-empty').waitFor(WAIT);
    await page.getByTestId('public-url-warning').getByText('CHAP_SCHEDULER_PUBLIC_URL').waitFor(WAIT);
  });

  test('a rule is checked as it is made, then listed with its channel, events and scope', async () => {
    await page.getByRole('button', { name: 'New rule' }).click();
    await page.locator('#rule-name').waitFor(WAIT);
    // The problem events start checked, not the good news.
    assert.equal(await page.getByLabel('Run failed').isChecked(), true);
    assert.equal(await page.getByLabel('Run completed').isChecked(), false);
    assert.equal(await page.locator('#rule-recipients').isVisible(), false);
    await page.getByLabel('Run failed').uncheck();
    await page.getByLabel('Run partly failed').uncheck();
    await page.getByLabel('Schedule late').uncheck();
    await page.getByLabel('Schedule paused').uncheck();
    await page.getByRole('button', { name: 'Save rule' }).click();
    await fieldError('name').getByText('Required.').waitFor(WAIT);
    await fieldError('channel').getByText('Choose a channel.').waitFor(WAIT);
    await fieldError('events').getByText('Choose at least one event.').waitFor(WAIT);

    // An SMTP channel asks for recipients, checked here first.
    await page.locator('#rule-channel').selectOption({ label: 'mail relay (SMTP server)' });
    await page.locator('#rule-recipients').waitFor(WAIT);
    await page.locator('#rule-recipients').fill('ops@example.org, nobody');
    await page.getByRole('button', { name: 'Save rule' }).click();
    await fieldError('recipients').getByText('nobody is not an e-mail address.').waitFor(WAIT);
    await screenshotBothSizes(page, 'notifications-form-errors');

    // A webhook takes none.
    await page.locator('#rule-channel').selectOption({ label: 'ops webhook (Webhook)' });
    assert.equal(await page.locator('#rule-recipients').isVisible(), false);
    await page.locator('#rule-name').fill('ops alerts');
    for (const event of ['Run failed', 'Schedule late', 'Schedule paused']) {
      await page.getByLabel(event).check();
    }
    await page.locator('#rule-deployment').selectOption({ label: deployment.name });
    await page.getByRole('button', { name: 'Save rule' }).click();
    const card = ruleCard('ops alerts');
    await card.waitFor(WAIT);
    await page.getByTestId('notifications-notice').getByText('Rule ops alerts created.').waitFor(WAIT);
    assert.equal(await card.getByTestId('rule-channel').textContent(), 'ops webhook (Webhook)');
    assert.equal(await card.getByTestId('rule-events').textContent(), 'Run failed, Schedule late, Schedule paused');
    assert.equal(await card.getByTestId('rule-scope').textContent(), `Deployment ${deployment.name}`);
    const [rule] = (await api.get('/notification-rules')).body;
    assert.deepEqual(rule.events, ['run.failed', 'schedule.late', 'schedule.paused']);
    assert.deepEqual(rule.recipients, []);
    assert.equal(rule.deployment_id, deployment.id);
    assert.equal(rule.schedule_id, null);
    assert.equal(rule.active, true);

    // The server's refusal (a taken name) lands at the field.
    await page.getByRole('button', { name: 'New rule' }).click();
    await page.locator('#rule-name').fill('ops alerts');
    await page.locator('#rule-channel').selectOption({ label: 'ops webhook (Webhook)' });
    await page.getByRole('button', { name: 'Save rule' }).click();
    await fieldError('name').filter({ hasText: /already exists/ }).waitFor(WAIT);
    await page.getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await api.get('/notification-rules')).body.length, 1);
  });

  test('Send test shows what the receiver answered, delivered or not', async () => {
    const card = ruleCard('ops alerts');
    await card.getByRole('button', { name: 'Send test' }).click();
    await card.getByTestId('rule-test-result').locator('.check-ok', { hasText: 'Test sent' }).waitFor(WAIT);
    const test = receiver.requests.at(-1);
    assert.equal(test.url, `/hooks/${HOOK_TOKEN}`);
    assert.equal(test.json.event, 'run.failed');
    assert.match(test.headers['x-chap-scheduler-signature'], /^t=\d+,v1=[0-9a-f]{64}$/);
    // No public URL: the payload does not link to the run.
    assert.equal(test.json.run.url, undefined);

    receiver.failing = 1;
    await card.getByRole('button', { name: 'Send test' }).click();
    await card
      .getByTestId('rule-test-result')
      .locator('.check-failed', { hasText: /Test not delivered: .*500/ })
      .waitFor(WAIT);
    await screenshotBothSizes(page, 'notifications');
  });

  test('a failed run shows its delivery on the run page, retried until the receiver took it', async () => {
    // chap refuses the setup once: the run fails; the receiver refuses the first attempt.
    await sim.control({ fault: { group: 'run_setup', method: 'POST', status: 500, next: 1 } });
    receiver.failing = 1;
    const before = receiver.requests.length;
    const triggered = await api.post(`/deployments/${deployment.id}/runs`, {
      parameters: { credentials: block.id, prediction_setup_id: 1 },
    });
    assert.equal(triggered.status, 201);
    failedRunId = triggered.body.id;
    await page.goto(`${server.url}/runs/${failedRunId}`);
    await page.locator('h1 [data-state]', { hasText: 'Failed' }).waitFor(RUN_WAIT);
    const section = page.getByTestId('run-deliveries');
    await section.getByRole('heading', { name: 'Notifications' }).waitFor(WAIT);
    const row = section.locator('tr[data-status="sent"]', { hasText: 'ops alerts' });
    await row.waitFor(RUN_WAIT);
    assert.match(await row.textContent(), /Run failed/);
    assert.match(await row.textContent(), /sent \d{4}-\d{2}-\d{2}/);
    assert.equal(await row.locator('td').nth(2).textContent(), '2', 'two attempts');
    const received = receiver.requests.slice(before).filter((r) => r.json?.run?.id === failedRunId);
    assert.equal(received.length, 2, 'refused once, then taken');
    assert.equal(received[1].json.event, 'run.failed');
    assert.equal(received[1].json.run.state, 'FAILED');
    await screenshotBothSizes(page, 'run-notifications');
  });

  test("a rule's deliveries link to their runs", async () => {
    await navLink(page, 'Notifications').click();
    const card = ruleCard('ops alerts');
    await card.getByRole('button', { name: 'Deliveries' }).click();
    const row = card.getByTestId('deliveries').locator('tr[data-status="sent"]').first();
    await row.waitFor(WAIT);
    assert.match(await row.textContent(), /run\.failed/);
    await row.getByRole('link', { name: `run ${failedRunId.replaceAll('-', '').slice(0, 8)}` }).click();
    await page.waitForURL(`**/runs/${failedRunId}`, WAIT);
  });

  test('a schedule with a deadline and a pause is late, then pauses itself and says why', async () => {
    // Every run of the schedule fails.
    await sim.control({ fault: { group: 'run_setup', method: 'POST', status: 500, next: 20 } });
    await page.goto(`${server.url}/deployments/${deployment.id}`);
    await page.getByRole('button', { name: 'Add schedule' }).click();
    await page.getByLabel('At a fixed interval').check();
    await page.getByLabel('Every').fill('5');
    await page.getByLabel('Unit').selectOption({ label: 'seconds' });
    await page.locator('#schedule-param-credentials').selectOption({ label: 'demo DHIS2' });
    await page.locator('#schedule-param-prediction_setup_id').fill('1');
    await page.getByLabel('Ready by (minutes after each slot)').fill('-1');
    await page.getByLabel('Pause after N failed runs in a row').fill('101');
    await page.getByRole('button', { name: 'Save schedule' }).click();
    await fieldError('ready_by_minutes').getByText(/from 0 to 10080/).waitFor(WAIT);
    await fieldError('pause_after_failures').getByText(/from 1 to 100/).waitFor(WAIT);
    await screenshotBothSizes(page, 'schedule-deadline-form');
    // Three seconds: the first slot's run fails well before the second slot.
    await page.getByLabel('Ready by (minutes after each slot)').fill('0.05');
    await page.getByLabel('Pause after N failed runs in a row').fill('2');
    await page.getByRole('button', { name: 'Save schedule' }).click();
    await scheduleCard().waitFor(WAIT);
    assert.equal(await scheduleCard().getByTestId('ready-by').textContent(), '3\u00a0s after each slot');
    assert.match(await scheduleCard().getByTestId('pause-after').textContent(), /2 failed runs in a row/);
    const [created] = (await api.get(`/deployments/${deployment.id}/schedules`)).body;
    assert.equal(created.ready_by_minutes, 0.05);
    assert.equal(created.pause_after_failures, 2);

    const paused = await eventually(
      async () => {
        const [s] = (await api.get(`/deployments/${deployment.id}/schedules`)).body;
        return !s.active && s.paused_reason ? s : null;
      },
      { timeout: 60_000, what: 'the schedule paused itself' },
    );
    assert.equal(paused.consecutive_failures, 2);
    await page.reload();
    const reason = scheduleCard().getByTestId('paused-reason');
    await reason.waitFor(WAIT);
    assert.match(await reason.textContent(), /Paused automatically\. Paused after 2 failed run/);
    // The last failed run is a link.
    assert.match(await reason.getByRole('link').getAttribute('href'), new RegExp(`^${PUBLIC_PATH}/runs/[0-9a-f-]{36}$`));
    await scheduleCard().locator('.state-badge', { hasText: /^Paused$/ }).waitFor(WAIT);
    assert.match(await scheduleCard().getByTestId('pause-after').textContent(), /\(2 so far\)/);
    await screenshotBothSizes(page, 'schedule-paused');
    await eventually(async () => receivedEvents().includes('schedule.paused'), { what: 'schedule.paused sent' });
    await eventually(async () => receivedEvents().includes('schedule.late'), { what: 'schedule.late sent' });

    // Switching it on again clears the reason and the count; then off, so it stops failing.
    await scheduleCard().getByRole('switch', { name: 'Active' }).click();
    await scheduleCard().locator('.state-badge', { hasText: /^Active$/ }).waitFor(WAIT);
    assert.equal(await scheduleCard().getByTestId('paused-reason').count(), 0);
    await scheduleCard().getByRole('switch', { name: 'Active' }).click();
    await scheduleCard().locator('.state-badge', { hasText: /^Inactive$/ }).waitFor(WAIT);

    // An emptied field sends 0: the deadline and the pause are removed.
    await scheduleCard().getByRole('button', { name: /^Edit schedule/ }).click();
    assert.equal(await page.getByLabel('Ready by (minutes after each slot)').inputValue(), '0.05');
    assert.equal(await page.getByLabel('Pause after N failed runs in a row').inputValue(), '2');
    await page.getByLabel('Ready by (minutes after each slot)').fill('');
    await page.getByLabel('Pause after N failed runs in a row').fill('');
    await page.getByRole('button', { name: 'Save schedule' }).click();
    await scheduleCard().getByTestId('ready-by').getByText('no deadline').waitFor(WAIT);
    const [edited] = (await api.get(`/deployments/${deployment.id}/schedules`)).body;
    assert.equal(edited.ready_by_minutes, null);
    assert.equal(edited.pause_after_failures, null);
  });

  test('the dashboard lists the late slot', async () => {
    await navLink(page, 'Dashboard').click();
    const late = page.getByTestId('late-slots').locator('li').first();
    await late.waitFor(WAIT);
    const name = deployment.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert.match(await late.textContent(), new RegExp(`${name}.*slot \\d{4}-.*ready by \\d{4}-`));
    await screenshotBothSizes(page, 'dashboard-late-slots');
  });

  test('an operator reads rules and deliveries but changes nothing; a viewer is not allowed', async () => {
    for (const [username, password, role] of [
      ['operator', OPERATOR_PASSWORD, 'operator'],
      ['viewer', VIEWER_PASSWORD, 'viewer'],
    ]) {
      assert.equal((await api.post('/users', { username, password, role })).status, 201);
    }
    const operator = await newPage(browser, problems);
    await logIn(operator, server.url, 'operator', OPERATOR_PASSWORD);
    await navLink(operator, 'Notifications').click();
    const card = operator.getByTestId('rules').locator('li.rule', { hasText: 'ops alerts' });
    await card.waitFor(WAIT);
    for (const name of ['New rule', 'Edit ops alerts', 'Send test', 'Delete… ops alerts']) {
      assert.equal(await operator.getByRole('button', { name }).count(), 0, name);
    }
    assert.equal(await operator.getByTestId('public-url-warning').count(), 0);
    await card.getByRole('button', { name: 'Deliveries' }).click();
    await card.getByTestId('deliveries').locator('tr[data-status="sent"]').first().waitFor(WAIT);
    await operator.context().close();

    const viewer = await newPage(browser, problems);
    await logIn(viewer, server.url, 'viewer', VIEWER_PASSWORD);
    assert.equal(await navLink(viewer, 'Notifications').count(), 0);
    await viewer.goto(`${server.url}/notifications`);
    await viewer.getByTestId('notifications-not-allowed').getByText('Not allowed').waitFor(WAIT);
    // The run page shows a viewer what was sent about the run.
    await viewer.goto(`${server.url}/runs/${failedRunId}`);
    await viewer.getByTestId('run-deliveries').locator('tr', { hasText: 'ops alerts' }).waitFor(WAIT);
    await viewer.context().close();
  });

  test('a channel used by a rule is not deleted; the rule goes after confirming, then the channel', async () => {
    await navLink(page, 'Credentials').click();
    const channel = page.getByTestId('credentials').locator('li', { hasText: 'ops webhook' });
    await channel.getByRole('button', { name: 'Delete… ops webhook' }).click();
    await channel.getByRole('button', { name: 'Delete credentials ops webhook' }).click();
    await channel.getByRole('alert').filter({ hasText: /used by the notification rule .ops alerts./ }).waitFor(WAIT);

    await navLink(page, 'Notifications').click();
    const card = ruleCard('ops alerts');
    await card.getByRole('button', { name: 'Delete… ops alerts' }).click();
    await card.getByText('Delete this rule?').waitFor(WAIT);
    await card.getByRole('button', { name: 'Delete rule ops alerts' }).click();
    await page.getByTestId('rules-empty').waitFor(WAIT);
    await page.getByTestId('notifications-notice').getByText('Rule ops alerts deleted.').waitFor(WAIT);

    await navLink(page, 'Credentials').click();
    await channel.getByRole('button', { name: 'Delete… ops webhook' }).click();
    await channel.getByRole('button', { name: 'Delete credentials ops webhook' }).click();
    await channel.waitFor({ state: 'detached', ...WAIT });
  });

  test('with a public URL there is no warning', async () => {
    const linked = await startServer({
      adminPassword: ADMIN_PASSWORD,
      env: { CHAP_SCHEDULER_PUBLIC_URL: 'https://scheduler.example.org' },
    });
    try {
      const other = await newPage(browser, problems);
      await logIn(other, linked.url, 'admin', ADMIN_PASSWORD);
      const info = other.waitForResponse((r) => appPath(r.url()) === '/info', WAIT);
      await navLink(other, 'Notifications').click();
      assert.equal((await info).status(), 200);
      await other.getByTestId('rules-empty').waitFor(WAIT);
      assert.equal(await other.getByTestId('public-url-warning').count(), 0);
      await other.context().close();
    } finally {
      await linked.stop();
    }
  });

  test('no page errors and no CSP violations', () => {
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.cspViolations, []);
  });
});
