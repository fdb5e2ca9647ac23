// The database side of a JS host, on one PGlite instance: the bootstrap,
// migrations, the schema-cache query and `sql` transactions as the Rust
// host runs them. Used by the Node host's database thread (db-worker.mjs)
// and, in the page, by the browser host (browser.mjs).

// Every type as PostgreSQL's text output, as the wire protocol gives it.
const TEXT = new Proxy({}, { get: () => (value) => value });

/** A PGlite error as the `db-error` record. */
export const dbError = (e) => ({
  code: e.code || 'XX000',
  message: e.message || String(e),
  detail: e.detail || undefined,
  hint: e.hint || undefined,
});

/** `"a", "b"`: the search path of the first exposed schema, then the extra ones. */
export function searchPathOf(schemas, extraSearchPath) {
  const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
  return [...new Set([list(schemas)[0] || 'public', ...list(extraSearchPath)])]
    .map((s) => `"${s.replaceAll('"', '""')}"`).join(', ');
}

/**
 * A statement_timeout as PostgreSQL reads it (`3s`, `1500`, `1min`, `250ms`;
 * no unit is milliseconds), in milliseconds; null when unreadable.
 */
export function durationMs(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$/.exec(String(text));
  if (!m) return null;
  const unit = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms'];
  return Math.round(Number(m[1]) * unit);
}

/** `{"a","b"}`: the exposed schemas as a text[] literal for the catalog query. */
export function schemaArray(schemas) {
  const list = schemas.split(',').map((x) => x.trim()).filter(Boolean);
  return `{${list.map((s) => `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`;
}

/**
 * `searchPath`: see searchPathOf. `appSettings`: `{ name: value }`, set as
 * `app.settings.<name>` in every transaction (PostgREST's `app.settings.*`).
 */
export function database(pg, { searchPath, appSettings = {} }) {
  const app = Object.entries(appSettings).map(([k, v]) => [`app.settings.${k}`, String(v)]);
  // Per role: its `ALTER ROLE … SET` settings that any user may set, applied
  // on the role switch as PostgREST does (loadRoleSettings). Not
  // statement_timeout: PGlite cannot interrupt a statement of its own; the
  // host bounds the call instead (roleTimeouts).
  let roles = new Map();
  let timeouts = {};
  // One operation at a time on the one session: a transaction is several
  // PGlite calls, and nothing else (a reload after NOTIFY) may run inside it.
  let tail = Promise.resolve();
  const exclusive = (fn) => {
    const turn = tail.then(fn);
    tail = turn.catch(() => {});
    return turn;
  };
  async function query(sql, params) {
    const r = await pg.query(sql, params, { rowMode: 'array', parsers: TEXT });
    return {
      columns: r.fields.map((f) => ({ name: f.name, typeOid: f.dataTypeID })),
      rows: r.rows.map((row) => row.map((v) => (v === null || v === undefined ? undefined : String(v)))),
      affected: BigInt(r.affectedRows ?? 0),
    };
  }

  return {
    query,

    /**
     * One transaction as the Rust host's `sql` runs it: the request's role,
     * claims and settings local to it, the statements, commit or rollback.
     * Answers `{ ok: result-sets }` or `{ err: db-error }`.
     */
    transaction: (session, statements) => exclusive(async () => {
      await pg.exec('BEGIN');
      try {
        const settings = [
          ['search_path', searchPath],
          ...(session.role ? roles.get(session.role) ?? [] : []),
          ...app,
          ['request.jwt.claims', session.claimsJson],
          ['transaction_read_only', session.readOnly ? 'on' : 'off'],
          ...(session.role ? [['role', session.role]] : []),
          ...session.requestSettings,
        ];
        // One round trip for all of them.
        await pg.query(
          `select ${settings.map((_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, true)`).join(', ')}`,
          settings.flat(),
        );
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
    }),

    /**
     * Pending migrations (`{ name: "<version>_<name>.sql", sql }`), each once,
     * in name order, each in one transaction with its record. Answers how
     * many were applied.
     */
    migrate: (files) => exclusive(async () => {
      let applied = 0;
      for (const { name: file, sql } of [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        const stem = file.replace(/\.sql$/, '');
        const cut = stem.indexOf('_');
        const [version, name] = cut < 0 ? [stem, ''] : [stem.slice(0, cut), stem.slice(cut + 1)];
        const done = await pg.query('SELECT 1 FROM supabase_migrations.schema_migrations WHERE version = $1', [version]);
        if (done.rows.length) continue;
        await pg.transaction(async (tx) => {
          await tx.exec(sql);
          await tx.query('INSERT INTO supabase_migrations.schema_migrations(version, name, statements) VALUES ($1, $2, ARRAY[$3])', [version, name, sql]);
        }).catch((e) => { throw new Error(`migration ${file} failed: ${e.message}`); });
        applied += 1;
      }
      return applied;
    }),

    /** Reads the roles' own settings (components/contract/sql/role_settings.sql) again. */
    loadRoleSettings: (roleSettingsSql) => exclusive(async () => {
      const next = new Map();
      const nextTimeouts = {};
      for (const [role, name, value] of (await query(roleSettingsSql, [])).rows) {
        if (name === 'statement_timeout') {
          // Later rows (this database) replace earlier ones; 0 is none.
          const ms = durationMs(value);
          if (ms === null) continue;
          if (ms > 0) nextTimeouts[role] = ms;
          else delete nextTimeouts[role];
          continue;
        }
        if (name === 'search_path') continue;
        // Later rows (this database) replace earlier ones (all databases).
        const own = (next.get(role) ?? []).filter(([n]) => n !== name);
        next.set(role, [...own, [name, value]]);
      }
      roles = next;
      timeouts = nextTimeouts;
    }),

    /** Each role's own statement_timeout (ms), as of the last read. */
    roleTimeouts: () => timeouts,

    /** Calls `reload` on every `NOTIFY pgrst` (in any transaction, as PostgREST). */
    listenForReload(reload) {
      return pg.listen('pgrst', () => reload());
    },

    /** The schema cache's JSON for the exposed schemas (a text[] literal). */
    catalog: (catalogSql, schemas) => exclusive(async () => {
      const r = await query(catalogSql, [schemas]);
      return r.rows[0]?.[0] ?? '{}';
    }),
  };
}
