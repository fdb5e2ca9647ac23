// What both JS hosts (Node: host.mjs, browser: browser.mjs) give the
// composed pipeline: WASI from preview2-shim and the `supalite:api` imports
// on a database, and one request at a time through the instance.

/** WASI from preview2-shim's modules, under the names the pipeline imports. */
export function wasiImports(modules) {
  const imports = {};
  for (const [pkg, mod] of Object.entries(modules)) {
    for (const [name, iface] of Object.entries(mod)) {
      if (name.startsWith('_')) continue;
      imports[`wasi:${pkg}/${name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`] = iface;
    }
  }
  return imports;
}

/** A database reply as the import's result: `ok`, or `db-error` thrown. */
function unwrap(reply) {
  if (reply.err) throw Object.assign(new Error(reply.err.message), { payload: reply.err });
  return reply.ok;
}

/**
 * The `supalite:api` imports. `run(session, statements)` answers
 * `{ ok }` / `{ err }`, at once (Node) or as a promise (browser, where the
 * pipeline is transpiled to suspend on it). `schema()`: `[version, json]`.
 */
export function apiImports({ run, allowedRoles, schema }) {
  const call = (session, statements) => {
    const reply = run(session, statements);
    return reply instanceof Promise ? reply.then(unwrap) : unwrap(reply);
  };
  return {
    'supalite:api/types': {},
    'supalite:api/sql-types': {},
    'supalite:api/sql': {
      transaction(session, statements) {
        // As the Rust host: only a role a request may have.
        if (!session.role || !allowedRoles.includes(session.role)) {
          throw Object.assign(new Error('role refused'), {
            payload: { code: '42501', message: `role "${session.role}" is not one a request may use` },
          });
        }
        return call(session, statements);
      },
    },
    'supalite:api/admin-sql': {
      transaction(statements) {
        return call({ role: null, claimsJson: '{}', readOnly: false, rollback: false, requestSettings: [] }, statements);
      },
    },
    'supalite:api/schema': {
      snapshot: () => schema(),
      version: () => schema()[0],
    },
    'supalite:api/blob-store': NO_BLOB_STORE,
    // The auth role's e-mail: SMTP and the mail catcher are the Rust host's.
    'supalite:api/mailer': {
      send() {
        throw Object.assign(new Error('no mailer'), { payload: 'no mailer in the JS hosts yet' });
      },
    },
  };
}

// The storage role's blob store is not written for the JS hosts yet (the
// plan: a directory in Node, IndexedDB or OPFS in the browser): every call
// fails with `other`, so `/storage/v1` answers Storage's errors here and
// everything else serves.
const noStore = () => {
  throw Object.assign(new Error('no blob store'), {
    payload: { tag: 'other', val: 'no blob store in the JS hosts yet' },
  });
};
class Writer {
  write() { noStore(); }
  writeFrom() { noStore(); }
  finish() { noStore(); }
}
const NO_BLOB_STORE = { Writer, create: noStore, get: noStore, info: noStore, copy: noStore, delete: noStore };

/**
 * The pipeline's `handle`, one request at a time (an instance is never
 * entered twice; in the browser a request's SQL suspends it). A trap leaves
 * an instance unusable: the next request gets a new one from `load`.
 * `before` is awaited at the start of each request's turn.
 */
export async function serialized(load, before = () => {}) {
  let instance = await load();
  let tail = Promise.resolve();
  return {
    handle(request) {
      const turn = tail.then(async () => {
        await before();
        try {
          return await instance.handler.handle(request);
        } catch (e) {
          instance = await load();
          throw e;
        }
      });
      tail = turn.catch(() => {});
      return turn;
    },
  };
}

// Response headers the embedding server or the browser frames itself.
export const FRAMING = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade']);

/** The pipeline's answer when it failed itself (as the Rust host's). */
export const PIPELINE_FAILED = {
  status: 500,
  headers: [['content-type', 'application/json']],
  body: new TextEncoder().encode(JSON.stringify({
    code: 'SUPALITE500', details: null, hint: null, message: 'The request pipeline failed',
  })),
};
