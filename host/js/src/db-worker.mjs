// The database thread of the Node host: PGlite, its bootstrap and
// migrations, and `sql` transactions (src/db.mjs) answered on a MessagePort.
// The pipeline's imports are synchronous, so the main thread waits on `flag`
// (Atomics) and takes each answer with `receiveMessageOnPort`.
import { workerData, parentPort } from 'node:worker_threads';
import { readFileSync, readdirSync, existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { database, dbError } from './db.mjs';

const { flag, reloads, port, dataDir, migrations, searchPath, appSettings } = workerData;
const shared = (rel) => readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8');
// The same bootstrap and schema-cache query as the Rust host.
const BOOTSTRAP = shared('../../sql/bootstrap.sql');
const CATALOG = shared('../../../components/contract/sql/catalog.sql');
const ROLE_SETTINGS = shared('../../../components/contract/sql/role_settings.sql');

let pg;
if (dataDir) {
  const fresh = !existsSync(join(dataDir, 'PG_VERSION'));
  mkdirSync(dataDir, { recursive: true });
  pg = await PGlite.create({ dataDir });
  // The first start runs initdb, which keeps ~350 MB resident until PGlite
  // is closed: reopened, the same database costs ~440 MB instead of ~800.
  if (fresh) {
    await pg.close();
    pg = await PGlite.create({ dataDir });
  }
} else {
  pg = await PGlite.create({});
}
const db = database(pg, { searchPath, appSettings });
// NOTIFY pgrst: the roles' settings are read again here, and the main thread
// sees `reloads` move on its next schema lookup and reads the catalog again.
await db.listenForReload(async () => {
  await db.loadRoleSettings(ROLE_SETTINGS).catch((e) => console.error(`reading the roles' settings failed: ${e.message}`));
  Atomics.add(reloads, 0, 1);
});

const migrationFiles = (dir) => (!dir || !existsSync(dir) ? [] : readdirSync(dir)
  .filter((f) => f.endsWith('.sql'))
  .map((name) => ({ name, sql: readFileSync(join(dir, name), 'utf8') })));

async function answer(msg) {
  switch (msg.kind) {
    case 'start': {
      await pg.exec(BOOTSTRAP);
      const applied = await db.migrate(migrationFiles(migrations));
      await db.loadRoleSettings(ROLE_SETTINGS);
      return { ok: { applied }, timeouts: db.roleTimeouts() };
    }
    // The roles' timeouts go with the catalog: both are read again on NOTIFY pgrst.
    case 'catalog':
      return { ok: await db.catalog(CATALOG, msg.schemas), timeouts: db.roleTimeouts() };
    case 'reload':
      await db.loadRoleSettings(ROLE_SETTINGS);
      return { ok: await db.catalog(CATALOG, msg.schemas), timeouts: db.roleTimeouts() };
    case 'transaction':
      return db.transaction(msg.session, msg.statements);
    case 'close':
      await pg.close();
      return { ok: null };
    default:
      return { err: { code: 'XX000', message: `unknown request ${msg.kind}` } };
  }
}

port.on('message', async (msg) => {
  let reply;
  try {
    reply = await answer(msg);
  } catch (e) {
    reply = { err: dbError(e) };
  }
  port.postMessage({ ...reply, id: msg.id });
  Atomics.add(flag, 0, 1);
  Atomics.notify(flag, 0);
});
// Started: the main thread may call now (it must not block before this).
parentPort.postMessage('ready');
