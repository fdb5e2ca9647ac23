#!/usr/bin/env node
// `supalite-js serve`: the composed pipeline on Node.js and PGlite, answering
// HTTP like `supalite serve` (/rest/v1, /auth/v1; the keys printed at start).
//   node host/js/bin/serve.mjs [--listen 127.0.0.1:54321] [--data-dir DIR] [--migrations DIR]
//                              [--app-setting NAME=VALUE]...
// Settings: the same SUPALITE_* environment variables as the Rust host.
import { createServer } from 'node:http';
import { createHmac } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createHost } from '../src/host.mjs';
import { FRAMING, PIPELINE_FAILED } from '../src/pipeline.mjs';

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== 'serve'),
  options: {
    listen: { type: 'string', default: process.env.SUPALITE_LISTEN || '127.0.0.1:54321' },
    'data-dir': { type: 'string', default: process.env.SUPALITE_DATA_DIR || '.supalite/js-data' },
    migrations: { type: 'string', default: process.env.SUPALITE_MIGRATIONS || 'supabase/migrations' },
    // PostgREST's `app.settings.<name>` (supalite.toml's [app.settings]).
    'app-setting': { type: 'string', multiple: true, default: [] },
  },
});
const env = (k, d) => process.env[k] || d;
// The Supabase CLI's local secret, as the Rust host's default.
const secret = env('SUPALITE_JWT_SECRET', 'super-secret-jwt-token-with-at-least-32-characters-long');
if (secret.length < 32) throw new Error('SUPALITE_JWT_SECRET must be at least 32 characters long');
const anonRole = env('SUPALITE_DB_ANON_ROLE', env('SUPALITE_ANON_ROLE', 'anon'));
const allowed = env('SUPALITE_JWT_ALLOWED_ROLES', `${anonRole},authenticated,service_role`)
  .split(',').map((r) => r.trim()).filter(Boolean);
const MAX_BODY = Number(env('SUPALITE_MAX_BODY_BYTES', String(10 * 1024 * 1024)));
const STATEMENT_TIMEOUT = Number(env('SUPALITE_DB_STATEMENT_TIMEOUT', '8000'));
for (const [name, n] of [['SUPALITE_MAX_BODY_BYTES', MAX_BODY], ['SUPALITE_DB_STATEMENT_TIMEOUT', STATEMENT_TIMEOUT]]) {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a whole number ≥ 0`);
}

// What the components read: every SUPALITE_* variable of this process, plus
// the secret and roles resolved above (each role sees its own share).
const componentEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('SUPALITE_')));
Object.assign(componentEnv, {
  SUPALITE_JWT_SECRET: secret,
  SUPALITE_DB_ANON_ROLE: anonRole,
  SUPALITE_JWT_ALLOWED_ROLES: allowed.join(','),
});

const host = await createHost({
  dataDir: args['data-dir'] === 'memory://' ? undefined : args['data-dir'],
  migrations: args.migrations,
  env: componentEnv,
  schemas: env('SUPALITE_DB_SCHEMAS', 'public'),
  extraSearchPath: env('SUPALITE_DB_EXTRA_SEARCH_PATH', 'public'),
  allowedRoles: [anonRole, ...allowed],
  statementTimeoutMs: STATEMENT_TIMEOUT,
  appSettings: Object.fromEntries(args['app-setting'].map((kv) => {
    const cut = kv.indexOf('=');
    if (cut < 1) throw new Error(`--app-setting takes NAME=VALUE, not ${kv}`);
    return [kv.slice(0, cut), kv.slice(cut + 1)];
  })),
});

// API keys as `supabase status` prints them (HS256; expiry in 2032).
const b64 = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
const sign = (role) => {
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iss: 'supabase-demo', role, exp: 1983812996 })}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
};

function answer(res, status, headers, body) {
  res.statusCode = status;
  for (const [k, v] of headers) if (!FRAMING.has(k.toLowerCase())) res.appendHeader(k, v);
  res.setHeader('content-length', body.length);
  res.end(body);
}

const server = createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size <= MAX_BODY) chunks.push(c);
  });
  req.on('end', async () => {
    const at = req.url.indexOf('?');
    const headers = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      headers.push([req.rawHeaders[i].toLowerCase(), req.rawHeaders[i + 1]]);
    }
    const forwarded = req.headers['x-forwarded-for'];
    const peer = req.socket.remoteAddress || '';
    const rest = headers.filter(([k]) => k !== 'x-forwarded-for');
    rest.push(['x-forwarded-for', forwarded ? `${forwarded}, ${peer}` : peer]);
    try {
      const r = await host.handle({
        method: req.method,
        path: at < 0 ? req.url : req.url.slice(0, at),
        query: at < 0 ? '' : req.url.slice(at + 1),
        headers: rest,
        // One byte past the limit at most: the gateway answers 413.
        body: new Uint8Array(Buffer.concat(chunks).subarray(0, MAX_BODY + 1)),
      });
      answer(res, r.status, r.headers, Buffer.from(r.body));
    } catch (e) {
      console.error(`request failed: ${e.stack || e}`);
      answer(res, PIPELINE_FAILED.status, PIPELINE_FAILED.headers, Buffer.from(PIPELINE_FAILED.body));
    }
  });
});

const [hostname, port] = [args.listen.slice(0, args.listen.lastIndexOf(':')), Number(args.listen.slice(args.listen.lastIndexOf(':') + 1))];
server.listen(port, hostname, () => {
  const { address, port: bound } = server.address();
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${bound}`;
  console.error(`supalite-js ready: migrations applied ${host.applied}`);
  console.log(`API URL: ${url}`);
  console.log(`REST URL: ${url}/rest/v1`);
  console.log(`anon key: ${sign('anon')}`);
  console.log(`service_role key: ${sign('service_role')}`);
});

const stop = () => server.close(async () => {
  await host.close();
  process.exit(0);
});
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
