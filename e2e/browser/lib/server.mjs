// Starts the real chap-scheduler binary, and the DHIS2 + chap simulator, on free ports. With
// CHAP_BROWSER_PUBLIC_PATH (e.g. /chap-scheduler) the server runs under that public path behind Debian's
// nginx with the shipped nginx/subpath.conf, and tests get the proxied address.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The public path the suite runs under: `''` (the server directly, at `/`) or e.g. `/chap-scheduler`. */
export const PUBLIC_PATH = (process.env.CHAP_BROWSER_PUBLIC_PATH ?? '').replace(/\/+$/, '');

/**
 * The app path of a URL the browser is at or requested: `http://…/chap-scheduler/runs/1` → `/runs/1`.
 * A URL outside the public path gives `outside <pathname>`, which no comparison with an app path
 * mistakes for one.
 */
export function appPath(url) {
  const { pathname } = new URL(url);
  if (!PUBLIC_PATH) return pathname;
  if (pathname === PUBLIC_PATH) return '/';
  return pathname.startsWith(`${PUBLIC_PATH}/`) ? pathname.slice(PUBLIC_PATH.length) : `outside ${pathname}`;
}

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
  const behindProxy = PUBLIC_PATH
    ? { CHAP_SCHEDULER_PUBLIC_PATH: PUBLIC_PATH, CHAP_SCHEDULER_TRUST_PROXY_HEADERS: 'true' }
    : {};
  const server = await spawnUntilReady(
    bin,
    ['serve'],
    {
      CHAP_SCHEDULER_BIND: '127.0.0.1:0',
      CHAP_SCHEDULER_DATA_DIR: dataDir,
      CHAP_SCHEDULER_STATIC_DIR: staticDir,
      CHAP_SCHEDULER_ADMIN_PASSWORD: adminPassword,
      CHAP_SCHEDULER_LOG: 'warn',
      ...behindProxy,
      ...env,
    },
    /listening on (http:\/\/\S+)/,
    () => rm(dataDir, { recursive: true, force: true }),
  );
  if (!PUBLIC_PATH) return { url: server.address, stderr: server.stderr, stop: server.stop };
  let proxy;
  try {
    proxy = await startProxy(server.address);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    url: `${proxy.origin}${PUBLIC_PATH}`,
    stderr: server.stderr,
    stop: async () => {
      try {
        await proxy.stop();
      } finally {
        await server.stop();
      }
    },
  };
}

/** A free TCP port on 127.0.0.1 (nginx cannot be asked for one). */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * nginx in front of `upstream` as an operator runs it for the sub-path layout: `nginx/subpath.conf` as
 * shipped (the prefix replaced when it is not /chap-scheduler, as its comment says) inside a server
 * whose `/` stands for DHIS2. Any request that reaches that `/` is logged, and `stop` fails the test
 * with them: the app must never leave its public path. The suite signs in far more often than a
 * person, so the login zone allows more than the shipped 10 a minute (check-deploy tests that rate).
 */
async function startProxy(upstream) {
  const nginx = process.env.NGINX_BIN ?? 'nginx';
  const dir = await mkdtemp(path.join(tmpdir(), 'chap-e2e-nginx-'));
  // nginx's workers (nobody, when started as root) use the temp folders in here.
  await chmod(dir, 0o755);
  const snippet = (await readFile(path.join(repoRoot, 'nginx/subpath.conf'), 'utf8')).replaceAll(
    '/chap-scheduler',
    PUBLIC_PATH,
  );
  await writeFile(path.join(dir, 'subpath.conf'), snippet);
  const port = await freePort();
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `${kind}_temp_path ${dir}/${kind};`)
    .join('\n  ');
  await writeFile(
    path.join(dir, 'nginx.conf'),
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  ${temp}
  access_log ${dir}/access.log;
  limit_req_zone $binary_remote_addr zone=chap_login:1m rate=6000r/m;
  upstream chap_scheduler { server ${new URL(upstream).host}; keepalive 16; }
  server {
    listen 127.0.0.1:${port};
    location / {
      access_log ${dir}/outside.log;
      default_type text/plain;
      return 404 "DHIS2 stand-in: outside the public path\\n";
    }
    include ${dir}/subpath.conf;
  }
}
`,
  );
  const child = spawn(nginx, ['-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`, '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.once('error', (error) => {
    stderr += `could not start ${nginx}: ${error.message} (install Debian's nginx-light)`;
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null || stderr.includes('could not start')) {
      const log = await readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '');
      await rm(dir, { recursive: true, force: true });
      throw new Error(`nginx did not start: ${stderr}\n${log}`);
    }
    const up = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx was not listening on ${port} within ${START_TIMEOUT_MS / 1000} s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    origin: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      const outside = (await readFile(path.join(dir, 'outside.log'), 'utf8').catch(() => '')).trim();
      await rm(dir, { recursive: true, force: true });
      if (outside) throw new Error(`requests outside ${PUBLIC_PATH}/ reached the proxy:\n${outside}`);
    },
  };
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
