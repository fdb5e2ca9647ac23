// Builds what the JS host runs: the composed pipeline, written by the same
// `supalite compose` the Rust host uses (`SUPALITE_BIN`, default the
// workspace's release build), transpiled to JS + core wasm with jco.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const supalite = process.env.SUPALITE_BIN || resolve(root, '../../target/release/supalite');
const out = join(root, 'build');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const wasm = join(out, 'pipeline.wasm');
execFileSync(supalite, ['compose', '-o', wasm], { stdio: 'inherit', cwd: out });
const jco = join(root, 'node_modules', '@bytecodealliance', 'jco', 'dist', 'jco.js');
execFileSync(process.execPath, [jco, 'transpile', wasm, '-o', join(out, 'pipeline'), '--name', 'pipeline',
  '--instantiation', 'async', '--quiet'], { stdio: 'inherit' });
console.log(`built ${join(out, 'pipeline')}`);
