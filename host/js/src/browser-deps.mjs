// What the browser host needs from npm, by package name: resolved by the
// page's import map or by a bundler (`browser` export conditions). A worker
// has no import map: `createWorkerHost` hands it these modules' URLs instead.
export * as pglite from '@electric-sql/pglite';
export * as cli from '@bytecodealliance/preview2-shim/cli';
export * as clocks from '@bytecodealliance/preview2-shim/clocks';
export * as http from '@bytecodealliance/preview2-shim/http';
export * as io from '@bytecodealliance/preview2-shim/io';
export * as random from '@bytecodealliance/preview2-shim/random';
