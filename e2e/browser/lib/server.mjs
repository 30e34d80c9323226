// Starts the real chap-scheduler binary on a free port with a fresh data directory.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/**
 * Runs `chap-scheduler serve` and resolves once it prints `listening on http://…`.
 * @param {{ adminPassword: string, env?: Record<string, string> }} options
 * @returns {Promise<{ url: string, stderr: () => string, stop: () => Promise<void> }>}
 */
export async function startServer({ adminPassword, env = {} }) {
  const bin = process.env.CHAP_SCHEDULER_BIN ?? path.join(repoRoot, 'target/debug/chap-scheduler');
  const staticDir = path.join(repoRoot, 'frontend/dist');
  if (!existsSync(bin)) {
    throw new Error(
      `server binary not found at ${bin}; build it with \`cargo build -p chap-scheduler\` ` +
        'or point CHAP_SCHEDULER_BIN at it',
    );
  }
  if (!existsSync(path.join(staticDir, 'index.html'))) {
    throw new Error(`no built SPA in ${staticDir}; run scripts/build-frontend.sh first`);
  }

  const dataDir = await mkdtemp(path.join(tmpdir(), 'chap-e2e-'));
  const child = spawn(bin, ['serve'], {
    env: {
      ...process.env,
      CHAP_SCHEDULER_BIND: '127.0.0.1:0',
      CHAP_SCHEDULER_DATA_DIR: dataDir,
      CHAP_SCHEDULER_STATIC_DIR: staticDir,
      CHAP_SCHEDULER_ADMIN_PASSWORD: adminPassword,
      CHAP_SCHEDULER_LOG: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

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
    await rm(dataDir, { recursive: true, force: true });
  };

  try {
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`server did not print "listening on …" within ${START_TIMEOUT_MS / 1000} s`)),
        START_TIMEOUT_MS,
      );
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
        const match = stdout.match(/listening on (http:\/\/\S+)/);
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
        reject(new Error(`server exited before listening (code ${code}, signal ${signal})`));
      });
    });
    return { url, stderr: () => stderr, stop };
  } catch (error) {
    await stop();
    error.message += `\n--- server stdout ---\n${stdout}\n--- server stderr ---\n${stderr}`;
    throw error;
  }
}
