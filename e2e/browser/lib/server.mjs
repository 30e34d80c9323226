// Starts the real chap-scheduler binary, and the DHIS2 + chap simulator, on free ports.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(repoRoot, 'target');

/**
 * Spawns `bin args` and resolves with the first match of `ready` in its stdout (group 1).
 * @returns {Promise<{ address: string, stderr: () => string, stop: () => Promise<void> }>}
 */
async function spawnUntilReady(bin, args, env, ready, onStop = async () => {}) {
  if (!existsSync(bin)) {
    throw new Error(`binary not found at ${bin}; build it with \`cargo build --workspace\``);
  }
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    await onStop();
  };

  try {
    const address = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${path.basename(bin)} was not ready within ${START_TIMEOUT_MS / 1000} s`)),
        START_TIMEOUT_MS,
      );
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
        const match = stdout.match(ready);
        if (match) {
          clearTimeout(timer);
          resolve(match[1].replace(/\/$/, ''));
        }
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`could not start ${bin}: ${error.message}`));
      });
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`${path.basename(bin)} exited before it was ready (code ${code}, signal ${signal})`));
      });
    });
    return { address, stderr: () => stderr, stop };
  } catch (error) {
    await stop();
    error.message += `\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;
    throw error;
  }
}

/**
 * Runs `chap-scheduler serve` (embedded: SQLite and the database queue) with a fresh data directory.
 * @param {{ adminPassword: string, env?: Record<string, string> }} options
 * @returns {Promise<{ url: string, stderr: () => string, stop: () => Promise<void> }>}
 */
export async function startServer({ adminPassword, env = {} }) {
  const bin = process.env.CHAP_SCHEDULER_BIN ?? path.join(targetDir, 'debug/chap-scheduler');
  const staticDir = path.join(repoRoot, 'frontend/dist');
  if (!existsSync(path.join(staticDir, 'index.html'))) {
    throw new Error(`no built SPA in ${staticDir}; run scripts/build-frontend.sh first`);
  }
  const dataDir = await mkdtemp(path.join(tmpdir(), 'chap-e2e-'));
  const server = await spawnUntilReady(
    bin,
    ['serve'],
    {
      CHAP_SCHEDULER_BIND: '127.0.0.1:0',
      CHAP_SCHEDULER_DATA_DIR: dataDir,
      CHAP_SCHEDULER_STATIC_DIR: staticDir,
      CHAP_SCHEDULER_ADMIN_PASSWORD: adminPassword,
      CHAP_SCHEDULER_LOG: 'warn',
      ...env,
    },
    /listening on (http:\/\/\S+)/,
    () => rm(dataDir, { recursive: true, force: true }),
  );
  return { url: server.address, stderr: server.stderr, stop: server.stop };
}

/**
 * Runs the DHIS2 + chap simulator (`e2e/dhis2-sim`) with a scenario file (default: the demo world),
 * its top-level keys replaced by `overrides` (e.g. `{ api_token: 'd2pat_…' }`) when given.
 * `control` drives it at run time (see the simulator's README: job statuses, latency, faults, outages).
 */
export async function startSimulator({
  scenario = path.join(repoRoot, 'e2e/dhis2-sim/scenarios/demo.json'),
  overrides,
} = {}) {
  const bin = process.env.DHIS2_SIM_BIN ?? path.join(targetDir, 'debug/dhis2-sim');
  let scenarioFile = scenario;
  let cleanUp = async () => {};
  if (overrides) {
    const dir = await mkdtemp(path.join(tmpdir(), 'chap-e2e-sim-'));
    scenarioFile = path.join(dir, 'scenario.json');
    const world = JSON.parse(await readFile(scenario, 'utf8'));
    await writeFile(scenarioFile, JSON.stringify({ ...world, ...overrides }));
    cleanUp = () => rm(dir, { recursive: true, force: true });
  }
  const sim = await spawnUntilReady(
    bin,
    ['--scenario', scenarioFile, '--bind', '127.0.0.1:0'],
    {},
    /dhis2-sim listening on (http:\/\/\S+)/,
    cleanUp,
  );
  const url = sim.address;
  return {
    url,
    username: 'admin',
    password: 'district',
    apiToken: overrides?.api_token,
    stop: sim.stop,
    /** POST /__sim/control with any of its commands. */
    async control(command) {
      const response = await fetch(`${url}/__sim/control`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(command),
      });
      if (response.status !== 204) throw new Error(`sim control ${JSON.stringify(command)}: ${await response.text()}`);
    },
    /** What the scheduler posted to chap's run endpoint. */
    async submissions() {
      return (await fetch(`${url}/__sim/submissions`)).json();
    },
    /**
     * Revokes every chap job still in flight, as an operator would in chap after cancelling runs whose
     * jobs hang: a later run of the same setup would otherwise follow such a job instead of submitting.
     */
    async revokeJobsInFlight() {
      const jobs = await (await fetch(`${url}/__sim/jobs`)).json();
      for (const job of jobs) {
        if (!job.deleted && ['PENDING', 'STARTED', 'RUNNING', 'RETRY'].includes(job.status.toUpperCase())) {
          await this.control({ revoke_job: job.id });
        }
      }
    },
  };
}
