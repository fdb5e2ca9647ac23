#!/usr/bin/env node
// `supalite-js serve`: the composed pipeline on Node.js and PGlite, answering
// HTTP like `supalite serve` (/rest/v1, /auth/v1; the keys printed at start).
//   node host/js/bin/serve.mjs --help
// Settings: the same SUPALITE_* environment variables as the Rust host, read
// by the same rules (src/settings.mjs, from the Rust host's settings table).
import { createServer } from 'node:http';
import { createHmac } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createHost } from '../src/host.mjs';
import { FRAMING, PIPELINE_FAILED } from '../src/pipeline.mjs';
import { allowedRoles, anonRole, componentEnv, list, number, setting, value } from '../src/settings.mjs';

const USAGE = `usage: node host/js/bin/serve.mjs [serve] [options]

Serves the composed pipeline on Node.js and PGlite for JS, as \`supalite serve\`
does: /rest/v1, /auth/v1; the anon and service_role keys are printed at start.

options:
  --listen ADDR            listen address (default SUPALITE_LISTEN, else ${setting('SUPALITE_LISTEN').default})
  --data-dir DIR           PGlite data directory, or memory:// (default SUPALITE_DATA_DIR, else .supalite/js-data)
  --migrations DIR         migrations directory (default SUPALITE_MIGRATIONS, else ${setting('SUPALITE_MIGRATIONS').default})
  --app-setting NAME=VALUE PostgREST's app.settings.NAME (repeatable)
  -h, --help               this text

Settings: the same SUPALITE_* environment variables as the Rust host
(\`supalite settings --markdown\` lists them all).`;

let parsed;
try {
  parsed = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== 'serve'),
    options: {
      listen: { type: 'string' },
      'data-dir': { type: 'string' },
      migrations: { type: 'string' },
      // PostgREST's `app.settings.<name>` (supalite.toml's [app.settings]).
      'app-setting': { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', short: 'h' },
    },
  });
} catch (e) {
  console.error(`${e.message}\n\n${USAGE}`);
  process.exit(2);
}
if (parsed.values.help) {
  console.log(USAGE);
  process.exit(0);
}
const args = parsed.values;
let settings;
try {
  settings = {
    listen: args.listen ?? value('SUPALITE_LISTEN'),
    dataDir: args['data-dir'] ?? process.env.SUPALITE_DATA_DIR ?? '.supalite/js-data',
    migrations: args.migrations ?? value('SUPALITE_MIGRATIONS'),
    secret: value('SUPALITE_JWT_SECRET'),
    anonRole: anonRole(),
    allowed: allowedRoles(),
    maxBody: number('SUPALITE_MAX_BODY_BYTES'),
    statementTimeout: number('SUPALITE_DB_STATEMENT_TIMEOUT'),
    env: componentEnv(),
  };
} catch (e) {
  console.error(`supalite-js: ${e.message}`);
  process.exit(2);
}
const { secret, maxBody: MAX_BODY } = settings;

const host = await createHost({
  dataDir: settings.dataDir === 'memory://' ? undefined : settings.dataDir,
  migrations: settings.migrations,
  env: settings.env,
  schemas: list('SUPALITE_DB_SCHEMAS').join(','),
  extraSearchPath: list('SUPALITE_DB_EXTRA_SEARCH_PATH').join(','),
  allowedRoles: [settings.anonRole, ...settings.allowed],
  statementTimeoutMs: settings.statementTimeout,
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

const { listen } = settings;
const [hostname, port] = [listen.slice(0, listen.lastIndexOf(':')), Number(listen.slice(listen.lastIndexOf(':') + 1))];
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
