// Builds what the JS hosts run: the composed pipeline, written by the same
// `supalite compose` the Rust host uses (`SUPALITE_BIN`, default the
// workspace's release build, built first if missing), transpiled to JS +
// core wasm with jco twice: build/pipeline for Node (synchronous imports,
// the database on a thread) and build/pipeline-web for the browser (JSPI:
// `sql` calls suspend the wasm stack while PGlite answers). build/sql.mjs
// carries the bootstrap, the schema-cache query and the roles' settings
// query: the same files the Rust host includes; build/settings.mjs the
// settings table.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const supalite = process.env.SUPALITE_BIN || resolve(root, '../../target/release/supalite');
if (!process.env.SUPALITE_BIN && !existsSync(supalite)) {
  // First build: the workspace's release binary (and its wasm components).
  execFileSync('cargo', ['build', '--release', '-p', 'supalite'], { stdio: 'inherit', cwd: resolve(root, '../..') });
}
const out = join(root, 'build');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const wasm = join(out, 'pipeline.wasm');
execFileSync(supalite, ['compose', '-o', wasm], { stdio: 'inherit', cwd: out });
const jco = join(root, 'node_modules', '@bytecodealliance', 'jco', 'dist', 'jco.js');
const transpile = (dir, extra) => execFileSync(process.execPath, [jco, 'transpile', wasm, '-o', join(out, dir),
  '--name', 'pipeline', '--instantiation', 'async', '--quiet', ...extra], { stdio: 'inherit' });
transpile('pipeline', []);
transpile('pipeline-web', ['--async-mode', 'jspi',
  '--async-imports', 'supalite:api/sql@0.1.0#transaction', 'supalite:api/admin-sql@0.1.0#transaction',
  '--async-exports', 'supalite:api/handler@0.1.0#handle']);
const sql = (rel) => JSON.stringify(readFileSync(resolve(root, rel), 'utf8'));
writeFileSync(join(out, 'sql.mjs'), `// Written by scripts/build.mjs: the Rust host's bootstrap and schema-cache query.
export const BOOTSTRAP = ${sql('../sql/bootstrap.sql')};
export const CATALOG = ${sql('../../components/contract/sql/catalog.sql')};
export const ROLE_SETTINGS = ${sql('../../components/contract/sql/role_settings.sql')};
`);
// The settings table (components/contract/src/settings.rs), for src/settings.mjs.
const table = JSON.parse(execFileSync(supalite, ['settings', '--json'], { encoding: 'utf8' }));
writeFileSync(join(out, 'settings.mjs'), `// Written by scripts/build.mjs from \`supalite settings --json\`: every setting's
// key, environment name, roles, kind and default, as the Rust host declares them.
export const SETTINGS = ${JSON.stringify(table.settings, null, 1)};
export const ROLES = ${JSON.stringify(table.roles)};
`);
console.log(`built ${out}`);
