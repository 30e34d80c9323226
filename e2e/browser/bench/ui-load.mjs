// Benchmark (prints figures, never fails on a slow one): how big the web UI is and how long a signed-in
// operator waits from navigation to a usable dashboard, in Debian's Chromium against the real server.
//
//   node bench/ui-load.mjs            # from e2e/browser; CHAP_SCHEDULER_BIN picks the server binary
//
// "Interactive" = the dashboard shows its data (the runs-per-day chart, the failures and upcoming lists,
// all from API calls) — the wasm is downloaded, compiled and started, the session restored from the refresh
// cookie, and the page's requests answered. Each sample is a fresh page; "cold" also has an empty HTTP cache.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';

import { launchBrowser, logIn, newProblems, newPage } from '../lib/browser.mjs';
import { repoRoot, startServer } from '../lib/server.mjs';

const SAMPLES = Number(process.env.CHAP_BENCH_UI_SAMPLES ?? 15);
const PASSWORD = 'bench-admin-password-0123';
const profiles = [
  { name: 'localhost', conditions: null },
  // A remote operator on an ordinary office line.
  { name: '10 Mbit/s, 40 ms RTT', conditions: { latency: 40, downloadThroughput: 1_250_000, uploadThroughput: 625_000 } },
];

function kib(bytes) {
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function sizes() {
  const dist = path.join(repoRoot, 'frontend/dist');
  const rows = readdirSync(dist)
    .filter((f) => /\.(wasm|js|css)$/.test(f))
    .map((f) => {
      const bytes = readFileSync(path.join(dist, f));
      // What the server sends: the build's precompressed copies (.br, .gz) when present.
      const copy = (ext, make) => {
        try {
          return statSync(path.join(dist, `${f}.${ext}`)).size;
        } catch {
          return make(bytes).length;
        }
      };
      return {
        file: f,
        raw: bytes.length,
        gz: copy('gz', (b) => gzipSync(b, { level: 9 })),
        br: copy('br', (b) => brotliCompressSync(b, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11 } })),
      };
    });
  const code = rows.filter((r) => /\.(wasm|js)$/.test(r.file));
  // The lazy pages' modules (split_<group>.wasm and the chunks groups share) are not part of a first load.
  const lazy = (r) => /^(split_|chunk_)/.test(r.file);
  const sum = (list, key) => list.reduce((n, r) => n + r[key], 0);
  const first = code.filter((r) => !lazy(r));
  return {
    rows,
    codeRaw: sum(code, 'raw'),
    codeGz: sum(code, 'gz'),
    codeBr: sum(code, 'br'),
    firstRaw: sum(first, 'raw'),
    firstGz: sum(first, 'gz'),
    firstBr: sum(first, 'br'),
  };
}

/** A signed-in page with the network shaped as `conditions`; `cold` disables its HTTP cache. */
async function openPage(browser, storageState, conditions, cold) {
  const problems = newProblems();
  const page = await newPage(browser, problems, { storageState });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  if (cold) await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  if (conditions) await cdp.send('Network.emulateNetworkConditions', { offline: false, ...conditions });
  const meter = { bytes: 0, code: 0, urls: new Map() };
  cdp.on('Network.requestWillBeSent', (event) => meter.urls.set(event.requestId, event.request.url));
  cdp.on('Network.loadingFinished', (event) => {
    meter.bytes += event.encodedDataLength;
    if (/\.(wasm|js)$/.test(new URL(meter.urls.get(event.requestId) ?? 'http://x/').pathname)) {
      meter.code += event.encodedDataLength;
    }
  });
  return { page, problems, meter };
}

/** Navigates to the dashboard and waits until it shows its data. */
async function load({ page, problems, meter }, url) {
  meter.bytes = 0;
  meter.code = 0;
  const started = performance.now();
  await page.goto(`${url}/`);
  await page.getByTestId('runs-chart').waitFor({ timeout: 60_000 });
  await page.locator('[data-testid="no-failures"], [data-testid="failures"]').first().waitFor({ timeout: 60_000 });
  await page.locator('[data-testid="no-upcoming"], [data-testid="upcoming"]').first().waitFor({ timeout: 60_000 });
  const elapsed = performance.now() - started;
  const wasmDone = await page.evaluate(() => {
    const wasm = performance.getEntriesByType('resource').find((r) => r.name.endsWith('/app_bg.wasm'));
    return wasm ? wasm.responseEnd : null;
  });
  if (problems.pageErrors.length) throw new Error(`page errors: ${problems.pageErrors.join('; ')}`);
  return { elapsed, wasmDone, bytes: meter.bytes, code: meter.code };
}

function report(label, samples) {
  const times = samples.map((s) => s.elapsed).sort((a, b) => a - b);
  const wasm = samples.map((s) => s.wasmDone).filter((t) => t !== null).sort((a, b) => a - b);
  const bytes = samples.map((s) => s.bytes).sort((a, b) => a - b);
  const code = samples.map((s) => s.code).sort((a, b) => a - b);
  console.log(
    `  ${label}: p50 ${times[times.length >> 1].toFixed(0)} ms, p90 ${percentile(times, 90).toFixed(0)} ms, ` +
      `min ${times[0].toFixed(0)} ms; wasm received at ${wasm.length ? `${wasm[wasm.length >> 1].toFixed(0)} ms` : '— (cached)'}; ` +
      `${kib(bytes[bytes.length >> 1])} over the wire, of which wasm + JS ${kib(code[code.length >> 1])}`,
  );
}

const { rows, codeRaw, codeGz, codeBr, firstRaw, firstGz, firstBr } = sizes();
const line = (label, raw, gz, br) =>
  `  ${label.padEnd(24)} ${kib(raw).padStart(9)} raw  ${kib(gz).padStart(8)} gzip  ${kib(br).padStart(8)} Brotli`;
console.log('web UI assets (frontend/dist):');
for (const r of rows) console.log(line(r.file, r.raw, r.gz, r.br));
console.log(
  `${line('wasm + JS, first load', firstRaw, firstGz, firstBr)}   (target ≤ 400 KB transferred: ${(firstBr / 1000).toFixed(0)} KB with Brotli)`,
);
console.log(line('wasm + JS, all pages', codeRaw, codeGz, codeBr));

const server = await startServer({ adminPassword: PASSWORD, env: { CHAP_SCHEDULER_LOG: 'error' } });
const browser = await launchBrowser();
try {
  const signIn = await newPage(browser, newProblems());
  await logIn(signIn, server.url, 'admin', PASSWORD);
  let storageState = await signIn.context().storageState();
  await signIn.context().close();
  console.log(`\nnavigation → dashboard interactive, ${SAMPLES} samples each (server ${process.env.CHAP_SCHEDULER_BIN ?? 'debug build'}):`);
  for (const profile of profiles) {
    // Cold: a fresh page with no HTTP cache each time (the refresh cookie it rotated is carried on).
    const cold = [];
    for (let i = 0; i <= SAMPLES; i += 1) {
      const opened = await openPage(browser, storageState, profile.conditions, true);
      const sample = await load(opened, server.url);
      storageState = await opened.page.context().storageState();
      await opened.page.context().close();
      if (i > 0) cold.push(sample);
    }
    report(`${profile.name.padEnd(22)} cold cache`, cold);
    // Warm: one page navigating again and again, its cache kept.
    const opened = await openPage(browser, storageState, profile.conditions, false);
    const warm = [];
    for (let i = 0; i <= SAMPLES; i += 1) {
      const sample = await load(opened, server.url);
      if (i > 0) warm.push(sample);
    }
    storageState = await opened.page.context().storageState();
    await opened.page.context().close();
    report(`${profile.name.padEnd(22)} warm cache`, warm);
  }
} finally {
  await browser.close();
  await server.stop();
}
