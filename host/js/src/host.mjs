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

const BUILD = new URL('../build/pipeline/', import.meta.url);
/// The longest one database call may take.
const TIMEOUT_MS = 60_000;

/// The database thread, called synchronously once it has started.
async function database({ dataDir, migrations, searchPath, appSettings }) {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  // Moved on by the database thread on every NOTIFY pgrst.
  const reloads = new Int32Array(new SharedArrayBuffer(4));
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
  // Answers carry the id of their request: an answer that comes after its
  // caller gave up (TIMEOUT_MS) is dropped, never taken for the next one.
  let next = 0;
  const call = (msg, timeout = TIMEOUT_MS) => {
    const id = ++next;
    const deadline = Date.now() + timeout;
    port1.postMessage({ ...msg, id });
    for (;;) {
      const seen = Atomics.load(flag, 0);
      for (let m = receiveMessageOnPort(port1); m; m = receiveMessageOnPort(port1)) {
        if (m.message.id === id) return m.message;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        return { err: { code: '57014', message: `the database did not answer within ${timeout} ms` } };
      }
      Atomics.wait(flag, 0, seen, left);
    }
  };
  const value = (reply) => {
    if (reply.err) throw Object.assign(new Error(reply.err.message), { payload: reply.err });
    return reply.ok;
  };
  return { call, value, worker, reloads };
}

/**
 * Opens the database (bootstrap, migrations), reads the schema cache and
 * instantiates the pipeline. `env`: the components' settings (`SUPALITE_*`),
 * which each role sees only its own share of (the pipeline's role-env).
 * `appSettings`: `{ name: value }`, PostgREST's `app.settings.<name>`.
 */
export async function createHost({ dataDir, migrations, env = {}, schemas = 'public', extraSearchPath = 'public', allowedRoles = ['anon', 'authenticated', 'service_role'], appSettings = {} }) {
  if (!existsSync(new URL('pipeline.js', BUILD))) {
    throw new Error('the pipeline is not built: run `npm run build` in host/js');
  }
  const searchPath = searchPathOf(schemas, extraSearchPath);
  const db = await database({ dataDir, migrations, searchPath, appSettings });
  const { applied } = db.value(db.call({ kind: 'start' }, 600_000));
  const catalog = schemaArray(schemas);
  let schemaJson = db.value(db.call({ kind: 'catalog', schemas: catalog }));
  let version = 1n;
  // The schema cache as of the last NOTIFY pgrst the database thread saw.
  let seen = Atomics.load(db.reloads, 0);
  const schema = () => {
    const now = Atomics.load(db.reloads, 0);
    if (now !== seen) {
      seen = now;
      schemaJson = db.value(db.call({ kind: 'catalog', schemas: catalog }));
      version += 1n;
    }
    return [version, schemaJson];
  };

  const imports = {
    ...wasiImports({ cli, clocks, http, io, random }),
    ...apiImports({
      run: (session, statements) => db.call({ kind: 'transaction', session, statements }),
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
  const pipeline = await serialized(load);
  return {
    applied,
    /** One request record in, one response record out (`supalite:api/handler`). */
    handle: (request) => pipeline.handle(request),
    /** Reads the schema cache again (after DDL outside migrations). */
    reloadSchema() {
      schemaJson = db.value(db.call({ kind: 'reload', schemas: catalog }));
      version += 1n;
    },
    async close() {
      try { db.call({ kind: 'close' }); } finally { await db.worker.terminate(); }
    },
  };
}
