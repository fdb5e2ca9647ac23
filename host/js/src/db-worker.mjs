// The database thread of the JS host: PGlite, its bootstrap and migrations,
// and `sql` transactions answered on a MessagePort. The pipeline's imports
// are synchronous, so the main thread waits on `flag` (Atomics) and takes
// each answer with `receiveMessageOnPort`.
import { workerData, parentPort } from 'node:worker_threads';
import { readFileSync, readdirSync, existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';

const { flag, port, dataDir, migrations, searchPath } = workerData;
const shared = (rel) => readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8');
// The same bootstrap and schema-cache query as the Rust host.
const BOOTSTRAP = shared('../../sql/bootstrap.sql');
const CATALOG = shared('../../../components/postgrest/src/schema/catalog.sql');
// Every type as PostgreSQL's text output, as the wire protocol gives it.
const TEXT = new Proxy({}, { get: () => (value) => value });

if (dataDir) mkdirSync(dataDir, { recursive: true });
const pg = await PGlite.create(dataDir ? { dataDir } : {});

const dbError = (e) => ({
  code: e.code || 'XX000',
  message: e.message || String(e),
  detail: e.detail || undefined,
  hint: e.hint || undefined,
});

async function query(sql, params) {
  const r = await pg.query(sql, params, { rowMode: 'array', parsers: TEXT });
  return {
    columns: r.fields.map((f) => ({ name: f.name, typeOid: f.dataTypeID })),
    rows: r.rows.map((row) => row.map((v) => (v === null || v === undefined ? undefined : String(v)))),
    affected: BigInt(r.affectedRows ?? 0),
  };
}

// One transaction as the Rust host's `sql` runs it: the request's role,
// claims and settings local to it, the statements, commit or rollback.
async function transaction({ session, statements }) {
  await pg.exec('BEGIN');
  try {
    const settings = [
      ['search_path', searchPath],
      ['request.jwt.claims', session.claimsJson],
      ['transaction_read_only', session.readOnly ? 'on' : 'off'],
      ...(session.role ? [['role', session.role]] : []),
      ...session.requestSettings,
    ];
    for (const [name, value] of settings) {
      await pg.query('select set_config($1, $2, true)', [name, value]);
    }
    const sets = [];
    for (const st of statements) sets.push(await query(st.sql, st.params));
    if (session.rollback) {
      await pg.exec('SET CONSTRAINTS ALL IMMEDIATE');
      await pg.exec('ROLLBACK');
    } else {
      await pg.exec('COMMIT');
    }
    return { ok: sets };
  } catch (e) {
    await pg.exec('ROLLBACK').catch(() => {});
    return { err: dbError(e) };
  }
}

// Pending migrations, each once, in name order, in one transaction with its record.
async function migrate(dir) {
  if (!dir || !existsSync(dir)) return 0;
  let applied = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()) {
    const stem = file.slice(0, -4);
    const cut = stem.indexOf('_');
    const [version, name] = cut < 0 ? [stem, ''] : [stem.slice(0, cut), stem.slice(cut + 1)];
    const done = await pg.query('SELECT 1 FROM supabase_migrations.schema_migrations WHERE version = $1', [version]);
    if (done.rows.length) continue;
    const sql = readFileSync(join(dir, file), 'utf8');
    await pg.transaction(async (tx) => {
      await tx.exec(sql);
      await tx.query('INSERT INTO supabase_migrations.schema_migrations(version, name, statements) VALUES ($1, $2, ARRAY[$3])', [version, name, sql]);
    }).catch((e) => { throw new Error(`migration ${file} failed: ${e.message}`); });
    applied += 1;
  }
  return applied;
}

async function answer(msg) {
  switch (msg.kind) {
    case 'start': {
      await pg.exec(BOOTSTRAP);
      const applied = await migrate(migrations);
      return { ok: { applied } };
    }
    case 'catalog': {
      const r = await query(CATALOG, [msg.schemas]);
      return { ok: r.rows[0]?.[0] ?? '{}' };
    }
    case 'transaction':
      return transaction(msg);
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
