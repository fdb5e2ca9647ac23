// The JS host: loads the composed pipeline (transpiled by jco, see
// scripts/build.mjs) and provides its `sql`, `admin-sql` and `schema`
// imports on PGlite, with the same behaviour as the Rust host's.
import { Worker, MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import * as cli from '@bytecodealliance/preview2-shim/cli';
import * as clocks from '@bytecodealliance/preview2-shim/clocks';
import * as http from '@bytecodealliance/preview2-shim/http';
import * as io from '@bytecodealliance/preview2-shim/io';
import * as random from '@bytecodealliance/preview2-shim/random';
import { schemaArray, searchPathOf } from './db.mjs';
import { apiImports, serialized, wasiImports } from './pipeline.mjs';
import { allowedRoles as defaultAllowedRoles, setting } from './settings.mjs';

const BUILD = new URL('../build/pipeline/', import.meta.url);
/// How long start-up (initdb, bootstrap, migrations) may take.
const START_MS = 600_000;

/**
 * The database thread, called synchronously once it has started.
 * `timeoutMs` bounds every call: PGlite for JS cannot interrupt its own
 * statement, so a call that runs past it answers 57014 and, when the data is
 * on disk, the thread is stopped and a new one opens the same directory
 * (committed transactions are there; the runaway one is lost, as a cancelled
 * statement's would be) — one request fails, never the database. In memory
 * there is nothing to reopen: the thread is left to finish.
 */
async function database({ dataDir, migrations, searchPath, appSettings, timeoutMs }) {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  // Moved on by the database thread on every NOTIFY pgrst (and here on a restart).
  const reloads = new Int32Array(new SharedArrayBuffer(4));
  let thread;
  let restarting = null;
  let next = 0;

  async function spawn() {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(new URL('./db-worker.mjs', import.meta.url), {
      workerData: { flag, reloads, port: port2, dataDir, migrations, searchPath, appSettings },
      transferList: [port2],
    });
    // A worker starts only while the main thread's event loop runs.
    await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    worker.on('error', (e) => console.error(`database thread failed: ${e.stack || e}`));
    thread = { worker, port: port1 };
  }

  // Answers carry the id of their request: an answer that comes after its
  // caller gave up is dropped, never taken for the next one.
  const call = (msg, timeout = timeoutMs) => {
    if (restarting) return { err: { code: '57P03', message: 'the database is restarting after a statement timeout' } };
    const id = ++next;
    const deadline = Date.now() + timeout;
    const { port } = thread;
    port.postMessage({ ...msg, id });
    for (;;) {
      const seen = Atomics.load(flag, 0);
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
        if (m.message.id === id) return m.message;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        if (dataDir && msg.kind === 'transaction') restart(timeout);
        return { err: { code: '57014', message: 'canceling statement due to statement timeout' } };
      }
      Atomics.wait(flag, 0, seen, left);
    }
  };
  const value = (reply) => {
    if (reply.err) throw Object.assign(new Error(reply.err.message), { payload: reply.err });
    return reply.ok;
  };
  function restart(ms) {
    console.error(`a statement ran past ${ms} ms: the database thread is restarted on ${dataDir}`);
    const old = thread.worker;
    restarting = (async () => {
      await old.terminate();
      await spawn();
      restarting = null;
      value(call({ kind: 'start' }, START_MS));
      // The next schema lookup reads the catalog again.
      Atomics.add(reloads, 0, 1);
    })().catch((e) => {
      console.error(`the database did not restart: ${e.stack || e}`);
      process.exit(1);
    });
  }

  await spawn();
  return {
    call,
    value,
    reloads,
    /** Resolves once a restart (if any) is over. */
    ready: () => restarting,
    close: async () => {
      await restarting;
      try { call({ kind: 'close' }); } finally { await thread.worker.terminate(); }
    },
  };
}

/**
 * Opens the database (bootstrap, migrations), reads the schema cache and
 * instantiates the pipeline. `env`: the components' settings (`SUPALITE_*`),
 * which each role sees only its own share of (the pipeline's role-env).
 * `appSettings`: `{ name: value }`, PostgREST's `app.settings.<name>`.
 * `statementTimeoutMs`: `db-statement-timeout` (0: none; a call then still
 * gives up after 10 minutes).
 */
export async function createHost({
  dataDir,
  migrations,
  env = {},
  schemas = setting('SUPALITE_DB_SCHEMAS').default,
  extraSearchPath = setting('SUPALITE_DB_EXTRA_SEARCH_PATH').default,
  allowedRoles = defaultAllowedRoles((k) => env[k]),
  appSettings = {},
  statementTimeoutMs = Number(setting('SUPALITE_DB_STATEMENT_TIMEOUT').default),
}) {
  if (!existsSync(new URL('pipeline.js', BUILD))) {
    throw new Error('the pipeline is not built: run `npm run build` in host/js');
  }
  const searchPath = searchPathOf(schemas, extraSearchPath);
  const db = await database({ dataDir, migrations, searchPath, appSettings, timeoutMs: statementTimeoutMs || START_MS });
  const started = db.call({ kind: 'start' }, START_MS);
  const { applied } = db.value(started);
  // Each role's own statement_timeout (ALTER ROLE … SET), under the cap, as
  // the Rust host applies it: a call of that role gives up after it.
  let roleTimeouts = started.timeouts ?? {};
  const timeoutOf = (role) => {
    const own = roleTimeouts[role];
    if (own > 0) return statementTimeoutMs > 0 ? Math.min(own, statementTimeoutMs) : own;
    return statementTimeoutMs || START_MS;
  };
  const catalog = schemaArray(schemas);
  let schemaJson = db.value(db.call({ kind: 'catalog', schemas: catalog }));
  let version = 1n;
  // The schema cache as of the last NOTIFY pgrst the database thread saw.
  let seen = Atomics.load(db.reloads, 0);
  const schema = () => {
    const now = Atomics.load(db.reloads, 0);
    if (now !== seen) {
      const reply = db.call({ kind: 'catalog', schemas: catalog });
      // Restarting: the cache as it was, read again on the next lookup.
      if (!reply.err) {
        seen = now;
        schemaJson = reply.ok;
        roleTimeouts = reply.timeouts ?? roleTimeouts;
        version += 1n;
      }
    }
    return [version, schemaJson];
  };

  const imports = {
    ...wasiImports({ cli, clocks, http, io, random }),
    ...apiImports({
      run: (session, statements) => db.call({ kind: 'transaction', session, statements }, timeoutOf(session.role)),
      allowedRoles,
      schema,
    }),
  };
  cli._setEnv(env);
  const { instantiate } = await import(new URL('pipeline.js', BUILD));
  const load = () => instantiate(
    async (name) => WebAssembly.compile(await readFile(new URL(name, BUILD))),
    imports,
  );
  // A request waits for a restart after a statement timeout to finish.
  const pipeline = await serialized(load, db.ready);
  return {
    applied,
    /** One request record in, one response record out (`supalite:api/handler`). */
    handle: (request) => pipeline.handle(request),
    /** Reads the schema cache again (after DDL outside migrations). */
    reloadSchema() {
      const reply = db.call({ kind: 'reload', schemas: catalog });
      schemaJson = db.value(reply);
      roleTimeouts = reply.timeouts ?? roleTimeouts;
      version += 1n;
    },
    close: () => db.close(),
  };
}
