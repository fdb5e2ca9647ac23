// The browser host: the same composed pipeline in the page, on PGlite for JS
// (data in IndexedDB), behind a `fetch`-compatible function to hand to
// supabase-js:
//
//   const host = await createBrowserHost({ migrations: [{ name: '20240101000000_notes.sql', sql }] });
//   const supabase = createClient(host.url, host.anonKey, { global: { fetch: host.fetch } });
//
// The pipeline is transpiled for JSPI (build/pipeline-web): a request's SQL
// suspends the wasm stack while PGlite answers: the page's event loop runs
// meanwhile (PGlite's own work still runs on the main thread).
import { PGlite } from '@electric-sql/pglite';
import * as cli from '@bytecodealliance/preview2-shim/cli';
import * as clocks from '@bytecodealliance/preview2-shim/clocks';
import * as http from '@bytecodealliance/preview2-shim/http';
import * as io from '@bytecodealliance/preview2-shim/io';
import * as random from '@bytecodealliance/preview2-shim/random';
import { database, schemaArray, searchPathOf } from './db.mjs';
import { apiImports, FRAMING, PIPELINE_FAILED, serialized, wasiImports } from './pipeline.mjs';

const BUILD = new URL('../build/', import.meta.url);
// The Supabase CLI's local secret, as the Rust host's default.
const LOCAL_SECRET = 'super-secret-jwt-token-with-at-least-32-characters-long';
const MAX_BODY = 10 * 1024 * 1024;
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
 */
export async function createBrowserHost({
  dataDir = 'idb://supalite',
  migrations = [],
  url = 'http://supalite.localhost',
  jwtSecret = LOCAL_SECRET,
  schemas = 'public',
  extraSearchPath = 'public',
  anonRole = 'anon',
  allowedRoles = [anonRole, 'authenticated', 'service_role'],
  appSettings = {},
  env = {},
} = {}) {
  if (jwtSecret.length < 32) throw new Error('the JWT secret must be at least 32 characters long');
  if (typeof WebAssembly.Suspending !== 'function') {
    throw new Error('this browser has no JavaScript Promise Integration (WebAssembly.Suspending): Chromium 137 or later runs the pipeline');
  }
  const { BOOTSTRAP, CATALOG, ROLE_SETTINGS } = await import(new URL('sql.mjs', BUILD));
  const pg = await PGlite.create({ dataDir });
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
  /** `fetch` for the pipeline's origin; the page's own fetch for any other. */
  async function pipelineFetch(input, init) {
    const request = new Request(input, init);
    const target = new URL(request.url);
    if (target.origin !== base.origin) return fetch(input, init);
    const body = new Uint8Array(await request.arrayBuffer());
    let answer;
    try {
      answer = await pipeline.handle({
        method: request.method,
        path: target.pathname,
        query: target.search.slice(1),
        headers: [...request.headers],
        // One byte past the limit at most: the gateway answers 413.
        body: body.length > MAX_BODY ? body.subarray(0, MAX_BODY + 1) : body,
      });
    } catch (e) {
      console.error('request failed', e);
      answer = PIPELINE_FAILED;
    }
    const headers = new Headers();
    for (const [k, v] of answer.headers) if (!FRAMING.has(k.toLowerCase())) headers.append(k, v);
    return new Response(NO_BODY.has(answer.status) ? null : answer.body, { status: answer.status, headers });
  }

  return {
    applied,
    url: base.origin,
    anonKey: await apiKey(jwtSecret, anonRole),
    serviceRoleKey: await apiKey(jwtSecret, 'service_role'),
    fetch: pipelineFetch,
    /** Reads the schema cache again (after DDL outside migrations). */
    reloadSchema: reload,
    close: () => pg.close(),
  };
}
