// Headless Chromium (Debian's, through playwright-core) on host/js's
// example server, for the browser test and the browser benchmark.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

/** Starts host/js/bin/example.mjs on a free port: `{ url, stop }`. */
export async function startExample() {
  const server = spawn(process.execPath, [fileURLToPath(new URL('../../host/js/bin/example.mjs', import.meta.url)), '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(server.stdout, 'data');
  return { url: String(line).match(/http:\/\/\S+/)[0], stop: () => server.kill() };
}

/**
 * A browser on the profile directory `profile`. As this machine's Chromium
 * needs it: no sandbox as root, and nothing that reaches for the network on
 * its own.
 */
export const launch = (profile) => chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
