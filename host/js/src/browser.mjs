// The browser hosts: the same composed pipeline, on PGlite for JS (data in
// IndexedDB), behind a `fetch`-compatible function to hand to supabase-js:
//
//   const host = await createWorkerHost({ migrations: [{ name: '20240101000000_notes.sql', sql }] });
//   const supabase = createClient(host.url, host.anonKey, { global: { fetch: host.fetch } });
//
// createWorkerHost runs them in a dedicated worker (src/browser-worker.mjs,
// with a request deadline); createBrowserHost on the page's own thread.
// The pipeline is transpiled for JSPI (build/pipeline-web): a request's SQL
// suspends the wasm stack while PGlite answers.
import { database, schemaArray, searchPathOf } from './db.mjs';
import { apiImports, FRAMING, PIPELINE_FAILED, serialized, wasiImports } from './pipeline.mjs';
import { problem, setting } from './settings.mjs';

const BUILD = new URL('../build/', import.meta.url);
/// The npm modules the host uses (src/browser-deps.mjs), by the names
/// `createWorkerHost` resolves for a worker.
export const DEPENDENCIES = {
  pglite: '@electric-sql/pglite',
  cli: '@bytecodealliance/preview2-shim/cli',
  clocks: '@bytecodealliance/preview2-shim/clocks',
  http: '@bytecodealliance/preview2-shim/http',
  io: '@bytecodealliance/preview2-shim/io',
  random: '@bytecodealliance/preview2-shim/random',
};

/** The dependencies: from `urls` (a worker), else by package name. */
async function dependencies(urls) {
  if (!urls) return import('./browser-deps.mjs');
  const entries = await Promise.all(Object.keys(DEPENDENCIES).map(async (k) => [k, await import(urls[k])]));
  return Object.fromEntries(entries);
}
// The Rust host's defaults (its settings table): the Supabase CLI's local
// secret, the body limit, the schemas and the anonymous role.
const DEFAULT = (env) => setting(env).default;
const MAX_BODY = Number(DEFAULT('SUPALITE_MAX_BODY_BYTES'));
// Statuses whose response has no body.
const NO_BODY = new Set([101, 204, 205, 304]);

const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
const utf8 = (s) => new TextEncoder().encode(s);

/** An HS256 API key for `role`, as `supabase status` prints them (expiry in 2032). */
async function apiKey(secret, role) {
  const key = await crypto.subtle.importKey('raw', utf8(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const body = `${b64url(utf8(JSON.stringify({ alg: 'HS256', typ: 'JWT' })))}.${b64url(utf8(JSON.stringify({ iss: 'supabase-demo', role, exp: 1983812996 })))}`;
  return `${body}.${b64url(new Uint8Array(await crypto.subtle.sign('HMAC', key, utf8(body))))}`;
}

/**
 * Opens the database (`idb://<name>` keeps it in IndexedDB, `memory://` in
 * memory), runs the bootstrap and pending `migrations`, reads the schema
 * cache and instantiates the pipeline. `url`: the origin the returned
 * `fetch` answers for (any other URL goes to the page's own fetch).
 * `modules`: the dependencies' URLs, where no import map resolves them.
 */
export async function createBrowserHost({
  dataDir = 'idb://supalite',
  migrations = [],
  url = 'http://supalite.localhost',
  jwtSecret = DEFAULT('SUPALITE_JWT_SECRET'),
  schemas = DEFAULT('SUPALITE_DB_SCHEMAS'),
  extraSearchPath = DEFAULT('SUPALITE_DB_EXTRA_SEARCH_PATH'),
  anonRole = DEFAULT('SUPALITE_DB_ANON_ROLE'),
  allowedRoles = [anonRole, 'authenticated', 'service_role'],
  appSettings = {},
  env = {},
  modules,
} = {}) {
  const bad = problem(setting('SUPALITE_JWT_SECRET'), jwtSecret);
  if (bad) throw new Error(`jwtSecret: ${bad}`);
  if (typeof WebAssembly.Suspending !== 'function') {
    throw new Error('this browser has no JavaScript Promise Integration (WebAssembly.Suspending): Chromium 137 or later runs the pipeline');
  }
  const { BOOTSTRAP, CATALOG, ROLE_SETTINGS } = await import(new URL('sql.mjs', BUILD));
  const { pglite, cli, clocks, http, io, random } = await dependencies(modules);
  const pg = await pglite.PGlite.create({ dataDir });
  const db = database(pg, { searchPath: searchPathOf(schemas, extraSearchPath), appSettings });
  await pg.exec(BOOTSTRAP);
  const applied = await db.migrate(migrations);
  const catalog = schemaArray(schemas);
  let schemaJson;
  let version = 0n;
  const reload = async () => {
    await db.loadRoleSettings(ROLE_SETTINGS);
    schemaJson = await db.catalog(CATALOG, catalog);
    version += 1n;
  };
  await reload();
  // NOTIFY pgrst in any request's transaction (as PostgREST).
  await db.listenForReload(() => reload().catch((e) => console.error('schema reload failed', e)));

  cli._setEnv({
    ...env,
    SUPALITE_JWT_SECRET: jwtSecret,
    SUPALITE_DB_ANON_ROLE: anonRole,
    SUPALITE_JWT_ALLOWED_ROLES: allowedRoles.join(','),
  });
  const imports = {
    ...wasiImports({ cli, clocks, http, io, random }),
    ...apiImports({ run: (session, statements) => db.transaction(session, statements), allowedRoles, schema: () => [version, schemaJson] }),
  };
  const web = new URL('pipeline-web/', BUILD);
  const { instantiate } = await import(new URL('pipeline.js', web));
  const pipeline = await serialized(() => instantiate(
    (name) => WebAssembly.compileStreaming(fetch(new URL(name, web))),
    imports,
  ));

  const base = new URL(url);
  /** One request record through the pipeline (what the worker host calls). */
  const handle = (record) => pipeline.handle(record).catch((e) => {
    console.error('request failed', e);
    return PIPELINE_FAILED;
  });

  return {
    applied,
    url: base.origin,
    anonKey: await apiKey(jwtSecret, anonRole),
    serviceRoleKey: await apiKey(jwtSecret, 'service_role'),
    fetch: fetchVia(base, handle),
    handle,
    /** Reads the schema cache again (after DDL outside migrations). */
    reloadSchema: reload,
    close: () => pg.close(),
  };
}

/**
 * A `fetch` that answers requests to `base`'s origin with
 * `handle(request record)`, and any other with the page's own fetch.
 */
function fetchVia(base, handle) {
  return async function pipelineFetch(input, init) {
    const request = new Request(input, init);
    const target = new URL(request.url);
    if (target.origin !== base.origin) return fetch(input, init);
    const body = new Uint8Array(await request.arrayBuffer());
    const answer = await handle({
      method: request.method,
      path: target.pathname,
      query: target.search.slice(1),
      headers: [...request.headers],
      // One byte past the limit at most: the gateway answers 413.
      body: body.length > MAX_BODY ? body.subarray(0, MAX_BODY + 1) : body,
    });
    const headers = new Headers();
    for (const [k, v] of answer.headers) if (!FRAMING.has(k.toLowerCase())) headers.append(k, v);
    return new Response(NO_BODY.has(answer.status) ? null : answer.body, { status: answer.status, headers });
  };
}

/** The answer to a request that ran past the worker host's deadline (as the Rust host's). */
const late = (ms) => ({
  status: 504,
  headers: [['content-type', 'application/json; charset=utf-8']],
  body: new TextEncoder().encode(JSON.stringify({
    code: 'SUPALITE504', details: null, hint: null,
    message: `The request took longer than the request deadline (${ms} ms)`,
  })),
});

/**
 * The browser host in a dedicated worker (src/browser-worker.mjs): the page
 * never runs PostgreSQL or the pipeline itself, so it stays responsive, and
 * a request that runs past `requestDeadlineMs` answers 504: with the data in
 * IndexedDB the worker is then terminated and started again on it (what was
 * committed is there; requests queued behind the runaway one answer 504 as
 * well), in memory it is left to finish (there is nothing to reopen).
 * Options as `createBrowserHost`'s; the npm modules are resolved here (by
 * the page's import map, `import.meta.resolve`) unless `modules` gives
 * their URLs. Answers `{ applied, url, anonKey, serviceRoleKey, fetch,
 * reloadSchema, close }`.
 */
export async function createWorkerHost({ requestDeadlineMs = Number(DEFAULT('SUPALITE_REQUEST_DEADLINE_MS')), ...options } = {}) {
  const modules = options.modules ?? Object.fromEntries(
    Object.entries(DEPENDENCIES).map(([k, spec]) => [k, import.meta.resolve(spec)]),
  );
  const persistent = String(options.dataDir ?? 'idb://supalite').startsWith('idb://');
  const pending = new Map();
  let next = 0;
  let worker;
  let ready;
  const start = () => {
    worker = new Worker(new URL('./browser-worker.mjs', import.meta.url), { type: 'module' });
    ready = new Promise((resolve, reject) => {
      worker.onmessage = ({ data }) => {
        if (data.kind === 'ready') resolve(data);
        else if (data.kind === 'failed') reject(new Error(data.message));
        else pending.get(data.id)?.(data);
      };
      worker.onerror = (e) => reject(new Error(e.message || 'the database worker failed to start'));
    });
    worker.postMessage({ kind: 'start', options: { ...options, modules } });
    return ready;
  };
  const started = await start();
  const call = async (message) => {
    await ready;
    const id = ++next;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve({ answer: late(requestDeadlineMs) });
        if (persistent) {
          console.error(`a request ran past ${requestDeadlineMs} ms: the database worker is started again`);
          worker.terminate();
          // What was queued behind it is gone with the worker.
          for (const settle of pending.values()) settle({ answer: late(requestDeadlineMs) });
          pending.clear();
          start();
        }
      }, requestDeadlineMs);
      pending.set(id, (reply) => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(reply);
      });
      worker.postMessage({ ...message, id });
    });
  };
  const base = new URL(started.url);
  return {
    applied: started.applied,
    url: started.url,
    anonKey: started.anonKey,
    serviceRoleKey: started.serviceRoleKey,
    fetch: fetchVia(base, async (record) => (await call({ kind: 'request', record })).answer),
    reloadSchema: () => call({ kind: 'reload' }).then(() => {}),
    close: () => worker.terminate(),
  };
}
