// The browser host's speed: in headless Chromium, a host on an in-memory
// PGlite with the benchmark's schema (BENCH_SCHEMA), then GET by key through
// its `fetch` for BENCH_SECONDS, one request at a time — in the page
// (createBrowserHost), then in a worker (createWorkerHost). Prints
// `{ rps, p50, p99, requests, worker: { … } }` (ms) as one JSON line;
// `bench` prints it next to the Rust host's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, startExample } from './chromium.mjs';

const example = await startExample();
const profile = mkdtempSync(join(tmpdir(), 'supalite-bench-'));
const context = await launch(profile);
try {
  const page = context.pages()[0] || await context.newPage();
  await page.goto(example.url);
  await page.evaluate(() => window.example);
  const measure = (variant) => page.evaluate(async ({ schema, seconds, variant }) => {
    const hosts = await import('/src/browser.mjs');
    const host = await hosts[variant]({ dataDir: 'memory://', migrations: [{ name: '20240101000000_bench.sql', sql: schema }] });
    const headers = { apikey: host.anonKey, authorization: `Bearer ${host.anonKey}` };
    const times = [];
    const end = performance.now() + seconds * 1000;
    for (let i = 0; performance.now() < end; i++) {
      const t = performance.now();
      const r = await host.fetch(`${host.url}/rest/v1/books?select=*&id=eq.${1 + (i * 7919) % 10000}`, { headers });
      await r.text();
      if (r.status !== 200) throw new Error(`status ${r.status}`);
      times.push(performance.now() - t);
    }
    const total = times.reduce((a, b) => a + b, 0);
    times.sort((a, b) => a - b);
    await host.close();
    return { rps: times.length / (total / 1000), p50: times[times.length >> 1], p99: times[Math.floor(times.length * 0.99)], requests: times.length };
  }, { schema: process.env.BENCH_SCHEMA, seconds: Number(process.env.BENCH_SECONDS || 5), variant });
  const result = await measure('createBrowserHost');
  result.worker = await measure('createWorkerHost');
  console.log(JSON.stringify(result));
} finally {
  await context.close();
  example.stop();
  rmSync(profile, { recursive: true, force: true });
}
